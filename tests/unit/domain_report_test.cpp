// The admin replies made from the scheduler thread's state: queue rows and their order, the
// domain and dns replies, Prometheus text.
#include "admin/domain_report.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/message_builder.h"
#include "core/scheduler.h"
#include "ctl/json_document.h"
#include "fakes/fake_clock.h"
#include "support/sample_status.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

TEST_CASE("queue rows: largest or oldest first, --top cuts", "[admin][report]") {
  FakeClock clock;
  QueueMap map;
  map.file("old.test", 0, 0, clock.now());
  clock.advance(60s);
  for (RecipientIndex r = 0; r < 3; ++r)
    map.file("big.test", 1, r, clock.now());
  map.file("mid.test", 2, 0, clock.now());
  map.file("mid.test", 2, 1, clock.now());
  clock.advance(5s);
  (void)map.pause_domain("mid.test", true, clock.now());
  (void)map.defer("big.test", clock.now() + 30s, clock.now());

  const std::vector<QueueRow> by_size = queue_rows(map, clock.now(), 0, QueueOrder::size);
  REQUIRE(by_size.size() == 3);
  CHECK(by_size[0].domain == "big.test");
  CHECK(by_size[0].waiting == 3);
  CHECK(by_size[0].backoff_seconds == 30);
  CHECK(by_size[1].domain == "mid.test");
  CHECK(by_size[1].paused);
  CHECK(by_size[2].domain == "old.test");
  CHECK(by_size[2].age_seconds == 65);
  CHECK(by_size[2].oldest_seconds == 65);

  const std::vector<QueueRow> by_age = queue_rows(map, clock.now(), 1, QueueOrder::age);
  REQUIRE(by_age.size() == 1);
  CHECK(by_age[0].domain == "old.test");

  const std::vector<QueueRow> by_rate =
      queue_rows(map, clock.now(), 2, QueueOrder::rate,
                 [](std::string_view domain) { return domain == "mid.test" ? 7.5 : 0.0; });
  REQUIRE(by_rate.size() == 2);
  CHECK(by_rate[0].domain == "mid.test");
  CHECK(by_rate[0].rate == 7.5);
  CHECK(by_rate[1].domain == "big.test");  // ties by name

  const std::string json = queues_reply_json(by_size, map.queue_count());
  const JsonDocument doc = parse_json_document(json);
  REQUIRE(doc.ok());
  CHECK(doc.root.member("queues")->as_uint64() == 3U);
  REQUIRE(doc.root.member("shown")->elements.size() == 3);
  CHECK(doc.root.member("shown")->elements[1].member("paused")->boolean);
  CHECK(queues_reply_json({}, 0) == R"({"ok":true,"queues":0,"shown":[]})");
}

TEST_CASE("domain and dns replies", "[admin][report]") {
  DomainReport report;
  report.domain = "example.com";
  report.paused = true;
  report.sessions_open = 2;
  report.waiting_retry = 4;
  report.next_retry_seconds = 120;
  report.consecutive_failures = 1;
  report.last_replies = {"2026-11-29T20:00:00Z deferred 4.2.1 451 \"slow down\""};
  report.dns_state = "fresh";
  report.dns_status = "route";
  report.dns_age_seconds = 10;
  report.dns_expires_in_seconds = 290;
  report.dns_hosts = {{"mx1.example.com", 10, {"192.0.2.1", "2001:db8::1"}}};

  const JsonDocument doc = parse_json_document(domain_reply_json(report));
  REQUIRE(doc.ok());
  const JsonValue* domain = doc.root.member("domain");
  REQUIRE(domain != nullptr);
  CHECK(domain->member("name")->text == "example.com");
  CHECK(domain->member("queue")->kind == JsonValue::Kind::null);
  CHECK(domain->member("paused")->boolean);
  CHECK(domain->member("sessions_open")->as_uint64() == 2U);
  CHECK(domain->member("last_replies")->elements.at(0).text == report.last_replies[0]);
  const JsonValue* dns = domain->member("dns");
  CHECK(dns->member("state")->text == "fresh");
  CHECK(dns->member("hosts")->elements.at(0).member("addresses")->elements.at(1).text ==
        "2001:db8::1");

  report.queue = QueueRow{"example.com", 5, 1, 30, 20, 0, true};
  const JsonDocument with_queue = parse_json_document(domain_reply_json(report));
  REQUIRE(with_queue.ok());
  CHECK(with_queue.root.member("domain")->member("queue")->member("waiting")->as_uint64() == 5U);

  const JsonDocument dns_only = parse_json_document(dns_reply_json(report));
  REQUIRE(dns_only.ok());
  CHECK(dns_only.root.member("domain")->text == "example.com");
  CHECK(dns_only.root.member("dns")->member("expires_in_seconds")->as_int64() == 290);

  CHECK(done_reply_json("paused \"x\"") == R"({"ok":true,"message":"paused \"x\""})");

  // Shaping: null until the domain was sent to, then the destination's state.
  CHECK(domain->member("shaping")->kind == JsonValue::Kind::null);
  DomainShapingReport shaping;
  shaping.destination = "mx:mx1.example.com,mx2.example.com";
  shaping.adaptive = true;
  shaping.state = "backing_off";
  shaping.sessions = 2;
  shaping.members = 3;
  shaping.concurrency = 2;
  shaping.max_connections = 8;
  shaping.rate = 40.5;
  shaping.deferred_share = 0.25;
  shaping.window_transactions = 12;
  shaping.mean_latency_ms = 85;
  shaping.decreases = 2;
  shaping.increases = 5;
  report.shaping = shaping;
  const std::string line = domain_reply_json(report);
  CHECK(line.find(R"("shaping":{"destination":"mx:mx1.example.com,mx2.example.com","policy":"",)"
                  R"("adaptive":true,"state":"backing_off","sessions":2,"members":3,)"
                  R"("concurrency":2,"max_connections":8,"rate":40.5,"max_rate":null,)"
                  R"("deferred_share":0.25,"window_transactions":12,"mean_latency_ms":85,)"
                  R"("suspended_seconds":-1,"decreases":2,"increases":5}}})") != std::string::npos);
  CHECK(parse_json_document(line).ok());
}

TEST_CASE("metrics: Prometheus text with bounded per-domain series", "[admin][report]") {
  const EngineStatus status = bulkq::testing::sample_status("");
  std::vector<QueueRow> top = {{"big.test", 40, 2, 100, 50, 0, false},
                               {"we\"ird\\.test", 1, 0, 5, 5, 0, false}};
  const std::string text = metrics_text(status, top);
  CHECK(text.find("# TYPE bulkq_recipients gauge\nbulkq_recipients 45000\n") != std::string::npos);
  CHECK(text.find("bulkq_fail_open_total{reason=\"quota\"} 5\n") != std::string::npos);
  CHECK(text.find("bulkq_recipients_total{outcome=\"sent\"} 41000\n") != std::string::npos);
  CHECK(text.find("bulkq_volume_messages_limit 1000\n") != std::string::npos);
  CHECK(text.find("bulkq_domain_queued{domain=\"big.test\"} 40\n") != std::string::npos);
  CHECK(text.find("bulkq_domain_queued{domain=\"we\\\"ird\\\\.test\"} 1\n") != std::string::npos);
  // Every line is a comment or "name[{labels}] value".
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    REQUIRE(end != std::string::npos);
    const std::string line = text.substr(start, end - start);
    CAPTURE(line);
    CHECK((line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0 ||
           line.rfind("bulkq_", 0) == 0));
    start = end + 1;
  }
  const JsonDocument doc = parse_json_document(metrics_reply_json(text));
  REQUIRE(doc.ok());
  CHECK(doc.root.member("metrics")->text == text);
}

TEST_CASE("messages: one row per message in queue order, paged", "[admin][report]") {
  FakeClock clock;
  Scheduler scheduler(clock, SchedulerLimits{});
  const auto admit = [&](MessageId id, std::vector<std::string> recipients) {
    MessageBuilder builder(MtaKind::postfix, "Q" + std::to_string(id), "news@s.test", clock.now());
    for (const std::string& r : recipients)
      REQUIRE(builder.add_recipient(r).empty());
    BuildResult built = builder.build(id);
    REQUIRE(built.ok());
    return scheduler.admit(std::move(*built.message));
  };
  (void)admit(7, {"a@x.test", "b@y.test", "c@x.test"});
  clock.advance(30s);
  (void)admit(8, {"d@x.test"});
  clock.advance(10s);
  const DomainQueue* queue = scheduler.queues().find("x.test");
  REQUIRE(queue != nullptr);
  const std::vector<MessageRow> rows = queued_messages(*queue, scheduler.messages(), clock.now());
  REQUIRE(rows.size() == 2);
  CHECK(rows[0] == MessageRow{"Q7", 7, "news@s.test", 2, 0, 40});
  CHECK(rows[1] == MessageRow{"Q8", 8, "news@s.test", 1, 0, 10});

  const JsonDocument doc = parse_json_document(messages_reply_json("x.test", rows, 0));
  REQUIRE(doc.ok());
  CHECK(doc.root.member("messages")->as_uint64() == 2U);
  CHECK(doc.root.member("page")->as_uint64() == 1U);
  CHECK(doc.root.member("pages")->as_uint64() == 1U);
  CHECK(doc.root.member("shown")->elements.at(0).member("queue_id")->text == "Q7");

  std::vector<MessageRow> many(kMessagesPerPage * 2 + 1, rows[0]);
  const JsonDocument last = parse_json_document(messages_reply_json("x.test", many, 3));
  REQUIRE(last.ok());
  CHECK(last.root.member("pages")->as_uint64() == 3U);
  CHECK(last.root.member("shown")->elements.size() == 1);
  const JsonDocument beyond = parse_json_document(messages_reply_json("x.test", many, 9));
  REQUIRE(beyond.ok());
  CHECK(beyond.root.member("shown")->elements.empty());
}
