#include "delivery/delivery_log_line.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

DeliveryLogEntry sent_entry() {
  DeliveryLogEntry e;
  e.queue_id = "4jcjNh4glqz1bYM2";
  e.recipient = "a@b.test";
  e.relay_host = "mx.b.test";
  e.relay_address = "127.0.0.5";
  e.relay_port = 25;
  e.delay = 420ms;
  e.delays = {10ms, 0ms, 200ms, 210ms};
  e.dsn = {2, 0, 0};
  e.status = LogStatus::sent;
  e.text = "250 2.0.0 Ok";
  return e;
}

bool one_safe_line(const std::string& line) {
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("delivery log lines have Postfix's shape", "[delivery]") {
  CHECK(delivery_log_line(sent_entry()) ==
        "4jcjNh4glqz1bYM2: to=<a@b.test>, relay=mx.b.test[127.0.0.5]:25, delay=0.42, "
        "delays=0.01/0/0.2/0.21, dsn=2.0.0, status=sent (250 2.0.0 Ok)");

  struct Case {
    LogStatus status;
    DsnStatus dsn;
    std::string text;
    std::string tail;
  };
  const std::vector<Case> cases = {
      {LogStatus::deferred,
       {4, 7, 1},
       "451 4.7.1 greylisted (in reply to RCPT TO command)",
       "dsn=4.7.1, status=deferred (451 4.7.1 greylisted (in reply to RCPT TO command))"},
      {LogStatus::bounced,
       {5, 1, 1},
       "550 5.1.1 no such user",
       "dsn=5.1.1, status=bounced (550 5.1.1 no such user)"},
      {LogStatus::expired,
       {5, 4, 7},
       "message expired",
       "dsn=5.4.7, status=expired (message expired)"},
  };
  for (const Case& c : cases) {
    DeliveryLogEntry e = sent_entry();
    e.status = c.status;
    e.dsn = c.dsn;
    e.text = c.text;
    const std::string line = delivery_log_line(e);
    INFO(line);
    CHECK(line.size() >= c.tail.size());
    CHECK(line.substr(line.size() - c.tail.size()) == c.tail);
  }
}

TEST_CASE("no relay and reused connections are shown like Postfix", "[delivery]") {
  DeliveryLogEntry e = sent_entry();
  e.relay_host = {};
  e.status = LogStatus::deferred;
  e.dsn = {4, 4, 3};
  e.text = "Host or domain name lookup failed temporarily";
  e.delay = 3h;
  e.delays = {0ms, 3h, 0ms, 0ms};
  CHECK(delivery_log_line(e) ==
        "4jcjNh4glqz1bYM2: to=<a@b.test>, relay=none, delay=10800, delays=0/10800/0/0, "
        "dsn=4.4.3, status=deferred (Host or domain name lookup failed temporarily)");

  DeliveryLogEntry reused = sent_entry();
  reused.connection_use = 7;
  reused.relay_port = 2525;
  CHECK(delivery_log_line(reused).find("relay=mx.b.test[127.0.0.5]:2525, conn_use=7, delay=") !=
        std::string::npos);
  reused.connection_use = 1;
  CHECK(delivery_log_line(reused).find("conn_use") == std::string::npos);
}

TEST_CASE("delays are formatted with Postfix's precision", "[delivery]") {
  struct Case {
    Duration d;
    std::string shown;
  };
  const std::vector<Case> cases = {
      {0ms, "0"},      {5ms, "0"},      {10ms, "0.01"},  {200ms, "0.2"},  {420ms, "0.42"},
      {999ms, "0.99"}, {1000ms, "1"},   {1340ms, "1.3"}, {9999ms, "9.9"}, {10s, "10"},
      {24900ms, "24"}, {3621s, "3621"}, {-5s, "0"},      {50ms, "0.05"},  {1050ms, "1"},
  };
  for (const Case& c : cases) {
    INFO(c.d.count() << " ms");
    CHECK(format_delay(c.d) == c.shown);
  }
}

TEST_CASE("untrusted text in a log line is escaped and bounded", "[delivery]") {
  DeliveryLogEntry e = sent_entry();
  e.recipient = "evil@b.test>\r\nX: forged";
  e.text = "250 ok\r\nQUEUE: to=<forged>, status=sent\x1b[31m \\ caf\xc3\xa9";
  const std::string line = delivery_log_line(e);
  CHECK(one_safe_line(line));
  CHECK(line.find("to=<evil@b.test>\\x0d\\x0aX: forged>") != std::string::npos);
  CHECK(
      line.find("(250 ok\\x0d\\x0aQUEUE: to=<forged>, status=sent\\x1b[31m \\\\ caf\\xc3\\xa9)") !=
      std::string::npos);

  const std::string huge_reply(100000, 'r');
  const std::string huge_address(5000, 'a');
  e.text = huge_reply;
  e.recipient = huge_address;
  const std::string huge_queue_id(1000, 'Q');
  e.queue_id = huge_queue_id;
  const std::string bounded = delivery_log_line(e);
  CHECK(one_safe_line(bounded));
  CHECK(bounded.size() < 1200);
  CHECK(bounded.find("r...)") != std::string::npos);
  CHECK(bounded.find("a...>") != std::string::npos);
}

TEST_CASE("outcomes map to Postfix's status words", "[delivery]") {
  CHECK(log_status(classify_reply({250, 0, 0, 0, "Ok"}, SmtpStage::data_end)) == LogStatus::sent);
  CHECK(log_status(classify_reply({451, 0, 0, 0, ""}, SmtpStage::rcpt_to)) == LogStatus::deferred);
  CHECK(log_status(classify_reply({550, 0, 0, 0, ""}, SmtpStage::rcpt_to)) == LogStatus::bounced);
  CHECK(log_status(apply_lifetime(classify_reply({451, 0, 0, 0, ""}, SmtpStage::rcpt_to), true)) ==
        LogStatus::expired);
  CHECK(log_status(classify_transport(TransportFailure::dns_null_mx)) == LogStatus::bounced);
  CHECK(to_string(LogStatus::expired) == "expired");
}

TEST_CASE("accounting lines are one valid JSON object each", "[delivery]") {
  AccountingEntry e;
  e.time = std::chrono::time_point_cast<Duration>(
      std::chrono::sys_days{std::chrono::year{2026} / 11 / 29} + 14h + 16min + 26s + 123ms);
  e.queue_id = "4jcjNh4glqz1bYM2";
  e.bulkq_id = 18446744073709551615ULL;
  e.sender = "news@sender.test";
  e.recipient = "a@b.test";
  e.domain = "b.test";
  e.status = LogStatus::sent;
  e.dsn = {2, 0, 0};
  e.relay = "mx.b.test[127.0.0.5]:25";
  e.reply = "250 2.0.0 Ok";
  e.attempts = 3;
  CHECK(accounting_line(e) ==
        "{\"time\":\"2026-11-29T14:16:26.123Z\",\"queue_id\":\"4jcjNh4glqz1bYM2\","
        "\"bulkq_id\":18446744073709551615,\"sender\":\"news@sender.test\","
        "\"recipient\":\"a@b.test\",\"domain\":\"b.test\",\"status\":\"sent\","
        "\"dsn\":\"2.0.0\",\"relay\":\"mx.b.test[127.0.0.5]:25\",\"reply\":\"250 2.0.0 Ok\","
        "\"attempts\":3}");

  AccountingEntry hostile;
  hostile.sender = {};  // the null sender
  hostile.recipient = "\"q\\uote\"@b.test";
  hostile.reply = "550 \r\n\x01 bad \xff utf8 caf\xc3\xa9";
  hostile.status = LogStatus::bounced;
  hostile.dsn = {5, 0, 0};
  const std::string line = accounting_line(hostile);
  CHECK(one_safe_line(line.substr(0, line.find("caf"))));
  CHECK(line.find("\"sender\":\"\"") != std::string::npos);
  CHECK(line.find("\"recipient\":\"\\\"q\\\\uote\\\"@b.test\"") != std::string::npos);
  CHECK(line.find("\"reply\":\"550 \\r\\n\\u0001 bad \\ufffd utf8 caf\xc3\xa9\"") !=
        std::string::npos);
  CHECK(line.find("\"time\":\"1970-01-01T00:00:00.000Z\"") != std::string::npos);

  AccountingEntry huge;
  const std::string reply(10000, 'z');
  huge.reply = reply;
  CHECK(accounting_line(huge).size() < 2400);
}
