// bulkqctl's human views of the queues, domain, dns, pause/resume/flush and metrics replies.
#include "ctl/command_view.h"

#include <catch2/catch.hpp>
#include <string>

#include "admin/domain_report.h"
#include "admin/release_reply.h"

using namespace bulkq;

TEST_CASE("command view: queues as columns", "[admin][bulkqctl]") {
  const std::string reply = queues_reply_json({{"big.example", 1200, 40, 3600, 95, 0, false, 41.26},
                                               {"slow.example", 3, 0, 60, 60, 120, true, 0}},
                                              7);
  const StatusView view = render_command_view(AdminCommand::queues, reply);
  REQUIRE(view.error == "");
  CHECK(view.text ==
        "DOMAIN        WAITING  IN FLIGHT  RATE/S  OLDEST   BACKOFF\n"
        "big.example   1200     40         41.3    95s      -\n"
        "slow.example  3        0          0.0     60s      120s     paused\n"
        "2 of 7 queue(s)\n");
}

TEST_CASE("command view: domain and dns", "[admin][bulkqctl]") {
  DomainReport report;
  report.domain = "example.com";
  report.queue = QueueRow{"example.com", 5, 1, 30, 20, 0, false};
  report.waiting_retry = 2;
  report.next_retry_seconds = 40;
  report.last_replies = {"2026-11-29T20:00:00Z deferred 4.7.0 too fast\x1b[31m"};
  report.dns_state = "fresh";
  report.dns_status = "route";
  report.dns_age_seconds = 3;
  report.dns_expires_in_seconds = 297;
  report.dns_hosts = {{"mx.example.com", 10, {"192.0.2.7"}}};
  const StatusView view = render_command_view(AdminCommand::domain, domain_reply_json(report));
  REQUIRE(view.error == "");
  CHECK(view.text.find("waiting:         5\n") != std::string::npos);
  CHECK(view.text.find("waiting retry:   2 (next in 40s)\n") != std::string::npos);
  CHECK(view.text.find("dns:             fresh (route; resolved 3s ago, expires in 297s)\n") !=
        std::string::npos);
  CHECK(view.text.find("  mx.example.com (preference 10): 192.0.2.7\n") != std::string::npos);
  // The escape sequence from the reply is shown, not obeyed.
  CHECK(view.text.find("too fast\\x1b[31m\n") != std::string::npos);

  CHECK(view.text.find("shaping:         none yet (nothing sent)\n") != std::string::npos);

  DomainShapingReport shaping;
  shaping.destination = "example.com";
  shaping.policy = "*.com";
  shaping.state = "suspended";
  shaping.members = 1;
  shaping.concurrency = 1;
  shaping.max_connections = 4;
  shaping.max_rate = 2.5;
  shaping.rate = 0.1;
  shaping.suspended_seconds = 55;
  report.shaping = shaping;
  const StatusView shaped = render_command_view(AdminCommand::domain, domain_reply_json(report));
  REQUIRE(shaped.error == "");
  CHECK(shaped.text.find("shaping:         suspended (static limits, policy *.com)\n"
                         "  destination:   example.com (1 domain(s))\n"
                         "  connections:   0 open, 1 allowed, at most 4\n"
                         "  rate:          0.1 msg/s (at most 2.5 msg/s)\n"
                         "  window:        0 transaction(s), 4xx share 0, latency 0 ms\n"
                         "  suspended:     55s more\n"
                         "  decisions:     0 slower, 0 faster\n") != std::string::npos);
  report.shaping->rate.reset();
  report.shaping->max_rate.reset();
  const StatusView unlimited = render_command_view(AdminCommand::domain, domain_reply_json(report));
  CHECK(unlimited.text.find("  rate:          unlimited (at most unlimited)\n") !=
        std::string::npos);

  const StatusView dns = render_command_view(AdminCommand::dns, dns_reply_json(report));
  REQUIRE(dns.error == "");
  CHECK(dns.text.rfind("domain:          example.com\ndns:             fresh", 0) == 0);
}

TEST_CASE("command view: messages, metrics, failures", "[admin][bulkqctl]") {
  CHECK(render_command_view(AdminCommand::pause, done_reply_json("paused a.test")).text ==
        "paused a.test\n");
  CHECK(render_command_view(AdminCommand::metrics, metrics_reply_json("bulkq_x 1\n")).text ==
        "bulkq_x 1\n");
  CHECK(render_command_view(AdminCommand::metrics, metrics_reply_json("bulkq_x \x1b\n")).error ==
        "malformed reply: the metrics text is not printable ASCII");
  CHECK(render_command_view(AdminCommand::flush, R"({"ok":false,"error":"flush: off"})").error ==
        "flush: off");
  // Found by the fuzzer: an empty reason is still a failure.
  CHECK(render_command_view(AdminCommand::pause, R"({"ok":false,"error":""})").error ==
        "the request failed");
  CHECK(render_command_view(AdminCommand::queues, R"({"ok":true,"queues":1})").error ==
        "malformed reply: reply.shown is missing");
  CHECK(render_command_view(AdminCommand::queues, "nonsense").error.rfind("malformed reply", 0) ==
        0);
}

TEST_CASE("command view: messages as columns", "[admin][bulkqctl]") {
  const std::vector<MessageRow> rows = {{"4jcxXM3btLz1cLSn", 7, "news@s.test", 2, 1, 40}};
  const StatusView view =
      render_command_view(AdminCommand::messages, messages_reply_json("x.test", rows, 1));
  REQUIRE(view.error == "");
  CHECK(view.text ==
        "QUEUE ID          BULKQ ID  RCPTS  ATTEMPTS  WAITING  SENDER\n"
        "4jcxXM3btLz1cLSn  7         2      1         40s      <news@s.test>\n"
        "1 message(s) waiting for x.test; page 1 of 1\n");
}

TEST_CASE("command view: release counts, the first error, the ids", "[admin][bulkqctl]") {
  ReleaseReport report;
  report.released = 2;
  report.recipients = 5;
  report.queue_ids = {"Q1", "Q2"};
  StatusView view = render_command_view(AdminCommand::release, release_reply_json(report));
  REQUIRE(view.error == "");
  CHECK(view.text == "released 2 message(s) (5 recipient(s)) to the MTA\n  Q1\n  Q2\n");
  report.busy = 1;
  report.failed = 1;
  report.remaining = 40;
  report.error = "hold/Q3: bad\x1b[31m";
  report.queue_ids.clear();
  view = render_command_view(AdminCommand::release, release_reply_json(report));
  REQUIRE(view.error == "");
  CHECK(view.text.rfind("released 2 message(s) (5 recipient(s)) to the MTA; 1 busy (in a session "
                        "now: run release again); 1 failed: hold/Q3: bad",
                        0) == 0);
  CHECK(view.text.find('\x1b') == std::string::npos);
  CHECK(view.text.find("; 40 more remain: run release again\n") != std::string::npos);
  CHECK_FALSE(render_command_view(AdminCommand::release, R"({"ok":true})").ok());
}
