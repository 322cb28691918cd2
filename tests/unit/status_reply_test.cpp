// The status and error reply lines: the exact line for a known status, every EngineStatus field
// present under its own name, and strings escaped so any bytes still make one valid JSON line.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "admin/json_string.h"
#include "admin/status_reply.h"
#include "ctl/admin_reply.h"
#include "ctl/json_document.h"
#include "support/sample_status.h"

using namespace bulkq;

namespace {

EngineStatus sample_status() {
  return bulkq::testing::sample_status("disk \"full\"");
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace

TEST_CASE("status reply: the exact line", "[admin][status]") {
  CHECK(status_reply_json(sample_status()) ==
        R"({"ok":true,"status":{"version":"0.1.0","started_unix":1796040000,)"
        R"("uptime_seconds":93784,"messages":1200,"recipients":45000,"domains":310,)"
        R"("pending_commit":4,"diverted_total":5000,"passed_total":70000,)"
        R"("commit_expired_total":2,"fail_open":{"journal":1,"memory":2,"handoff":3,"spool":4,)"
        R"("quota":5,"total":15},"journal_ok":false,"journal_error":"disk \"full\"",)"
        R"("memory_bytes":536870912,"memory_limit_bytes":1073741824,"recovered_messages":10,)"
        R"("adopted_messages":1,"dropped_records":3,"delivery":{"enabled":true,"sessions_open":5,)"
        R"("connections_idle":13,"waiting_retry":6,"connections":70,"batches_reused":14,)"
        R"("transactions":3500,"sent":41000,"deferred":120,)"
        R"("bounced":11,"expired":1,"dsn_sent":9,"dsn_failed":2,"dropped":7,)"
        R"("domain_backoffs":8,"dns_cache_entries":300,"dns_lookups_in_flight":3,)"
        R"("dns_hits":2900,"dns_misses":310,"dns_stale_served":4,"batches_waited_on_dns":12,)"
        R"("destinations":40,"destinations_backing_off":3,"destinations_suspended":1,)"
        R"("rate_deferrals":250,"concurrency_holds":17,"shaping_decreases":21,"rule_matches":5},)"
        R"("volume":{"period":"2026-11-30","messages":900,"recipients":45000,)"
        R"("messages_limit":1000,"recipients_limit":0,"sender_domains":15,"action":"tempfail",)"
        R"("tempfailed":16}}})");
}

TEST_CASE("status reply: every field, by its struct name, in a valid reply", "[admin][status]") {
  EngineStatus status;
  status.started_unix = -1;
  status.messages = UINT64_MAX;
  const std::string line = status_reply_json(status);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(read_admin_reply_status(line).ok);

  const JsonDocument document = parse_json_document(line);
  REQUIRE(document.ok());
  const JsonValue* body = document.root.member("status");
  REQUIRE(body != nullptr);
  CHECK(body->names == std::vector<std::string>{"version",
                                                "started_unix",
                                                "uptime_seconds",
                                                "messages",
                                                "recipients",
                                                "domains",
                                                "pending_commit",
                                                "diverted_total",
                                                "passed_total",
                                                "commit_expired_total",
                                                "fail_open",
                                                "journal_ok",
                                                "journal_error",
                                                "memory_bytes",
                                                "memory_limit_bytes",
                                                "recovered_messages",
                                                "adopted_messages",
                                                "dropped_records",
                                                "delivery",
                                                "volume"});
  CHECK(body->member("delivery")->names == std::vector<std::string>{"enabled",
                                                                    "sessions_open",
                                                                    "connections_idle",
                                                                    "waiting_retry",
                                                                    "connections",
                                                                    "batches_reused",
                                                                    "transactions",
                                                                    "sent",
                                                                    "deferred",
                                                                    "bounced",
                                                                    "expired",
                                                                    "dsn_sent",
                                                                    "dsn_failed",
                                                                    "dropped",
                                                                    "domain_backoffs",
                                                                    "dns_cache_entries",
                                                                    "dns_lookups_in_flight",
                                                                    "dns_hits",
                                                                    "dns_misses",
                                                                    "dns_stale_served",
                                                                    "batches_waited_on_dns",
                                                                    "destinations",
                                                                    "destinations_backing_off",
                                                                    "destinations_suspended",
                                                                    "rate_deferrals",
                                                                    "concurrency_holds",
                                                                    "shaping_decreases",
                                                                    "rule_matches"});
  CHECK(body->member("fail_open")->names ==
        std::vector<std::string>{"journal", "memory", "handoff", "spool", "quota", "total"});
  CHECK(body->member("volume")->names ==
        std::vector<std::string>{"period", "messages", "recipients", "messages_limit",
                                 "recipients_limit", "sender_domains", "action", "tempfailed"});
  CHECK(body->member("started_unix")->as_int64() == -1);
  CHECK(body->member("messages")->as_uint64() == UINT64_MAX);
  CHECK(body->member("journal_ok")->boolean);
}

TEST_CASE("error reply", "[admin][status]") {
  CHECK(error_reply_json("permission denied") == R"({"ok":false,"error":"permission denied"})");
  CHECK(error_reply_json("unknown command \"x\"\n") ==
        R"({"ok":false,"error":"unknown command \"x\"\n"})");
  const AdminReplyStatus status = read_admin_reply_status(error_reply_json("queues: no"));
  CHECK_FALSE(status.ok);
  CHECK(status.error == "queues: no");
}

TEST_CASE("JSON strings: escapes", "[admin][status]") {
  struct Case {
    std::string text;
    std::string json;
  };
  const std::vector<Case> cases = {
      {"", R"("")"},
      {"plain text / slash", R"("plain text / slash")"},
      {R"(a"b\c)", R"("a\"b\\c")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {"\x01\x1f\x7f", R"("\u0001\u001f\u007f")"},
      {std::string("a\0b", 3), R"("a\u0000b")"},
      {"\x1b[2J", R"("\u001b[2J")"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(json_string(c.text) == c.json);
  }
}

TEST_CASE("JSON strings: UTF-8 kept, anything else one U+FFFD per bad subpart", "[admin][status]") {
  struct Case {
    std::string text;
    std::string json;
  };
  const std::string r = "\\ufffd";
  const std::vector<Case> cases = {
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e",
       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\""},
      {"\xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf", "\"\xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\""},
      {"\xff", '"' + r + '"'},
      {"\x80x", '"' + r + "x\""},
      {"\xc3", '"' + r + '"'},                          // truncated at the end
      {"\xc3(", '"' + r + "(\""},                       // a bad continuation
      {"\xc0\xaf", '"' + r + r + '"'},                  // overlong '/': C0 never leads
      {"\xe0\x80\xaf", '"' + r + r + r + '"'},          // overlong three-byte form
      {"\xed\xa0\x80", '"' + r + r + r + '"'},          // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", '"' + r + r + r + r + '"'},  // above U+10FFFF
      {"\xe2\x82x", '"' + r + "x\""},                   // maximal subpart E2 82: one replacement
      {"\xf0\x9f\x98", '"' + r + '"'},
      {"\xf0\x9f\x98\x80\xf0", "\"\xf0\x9f\x98\x80" + r + '"'},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(json_string(c.text) == c.json);
    // Whatever went in, a strict reader takes the reply.
    CHECK(read_admin_reply_status(error_reply_json(c.text)).error != "");
    CHECK(parse_json_document(error_reply_json(c.text)).ok());
  }
}

TEST_CASE("JSON strings: every byte value survives a round trip or becomes U+FFFD",
          "[admin][status]") {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text = "<" + std::string(1, static_cast<char>(byte)) + ">";
    const JsonDocument document = parse_json_document(json_string(text));
    REQUIRE(document.ok());
    if (byte < 0x80) {
      CHECK(document.root.text == text);
    } else {
      CHECK(document.root.text == "<\xef\xbf\xbd>");
    }
  }
}
