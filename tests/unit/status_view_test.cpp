// `bulkqctl status` as a table: the exact text for a known reply, how each figure is shown, the
// daemon's refusal passed on, a reply lacking a member named, and reply strings made safe for a
// terminal.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "admin/status_reply.h"
#include "ctl/status_view.h"
#include "support/sample_status.h"

using namespace bulkq;

namespace {

EngineStatus sample_status() {
  return bulkq::testing::sample_status("MDB_MAP_FULL: Environment mapsize limit reached");
}

std::string render(const EngineStatus& status) {
  const StatusView view = render_status_view(status_reply_json(status));
  REQUIRE(view.error == "");
  return view.text;
}

// The value on the row labelled `label`.
std::string row(const std::string& text, const std::string& label) {
  const std::size_t at = text.find("\n  " + label + ":");
  REQUIRE(at != std::string::npos);
  const std::size_t value = text.find_first_not_of(' ', at + label.size() + 4);
  return text.substr(value, text.find('\n', value) - value);
}

}  // namespace

TEST_CASE("status view: the table", "[admin][status][bulkqctl]") {
  CHECK(render(sample_status()) ==
        "bulkqd\n"
        "  version:         0.1.0\n"
        "  started:         2026-11-30 12:00:00 UTC\n"
        "  uptime:          1d 2h 3m 4s\n"
        "\n"
        "Queue\n"
        "  messages:        1200\n"
        "  recipients:      45000\n"
        "  domains:         310\n"
        "  pending commit:  4\n"
        "\n"
        "Delivery\n"
        "  delivery:        on\n"
        "  sessions open:   5\n"
        "  idle conns:      13\n"
        "  waiting retry:   6\n"
        "  connections:     70\n"
        "  batches reused:  14\n"
        "  transactions:    3500\n"
        "  per connection:  50.0\n"
        "  sent:            41000\n"
        "  deferred:        120\n"
        "  bounced:         11\n"
        "    expired:       1\n"
        "  DSNs sent:       9\n"
        "  DSNs failed:     2\n"
        "  file gone:       7\n"
        "  backoffs:        8\n"
        "  DNS cached:      300\n"
        "  DNS lookups:     3\n"
        "  DNS hit/miss:    2900 / 310\n"
        "  DNS stale:       4\n"
        "  waited on DNS:   12\n"
        "  destinations:    40 (3 backing off, 1 suspended)\n"
        "  rate waits:      250\n"
        "  busy holds:      17\n"
        "  slow-downs:      21\n"
        "  rule matches:    5\n"
        "\n"
        "Totals since start\n"
        "  diverted:        5000\n"
        "  passed:          70000\n"
        "  commit expired:  2\n"
        "  fail open:       15\n"
        "    journal:       1\n"
        "    memory:        2\n"
        "    handoff:       3\n"
        "    spool:         4\n"
        "    quota:         5\n"
        "\n"
        "Volume\n"
        "  period:          2026-11-30\n"
        "  messages:        900 of 1000\n"
        "  recipients:      45000 (no limit)\n"
        "  sender domains:  15\n"
        "  over: action:    tempfail\n"
        "  tempfailed:      16\n"
        "\n"
        "Health\n"
        "  journal:         error: MDB_MAP_FULL: Environment mapsize limit reached\n"
        "  memory:          512.0 MiB of 1024.0 MiB (50%)\n"
        "\n"
        "Recovery at start\n"
        "  recovered:       10\n"
        "  adopted:         1\n"
        "  dropped:         3\n");
}

TEST_CASE("status view: figures", "[admin][status][bulkqctl]") {
  EngineStatus status = sample_status();
  struct Uptime {
    std::uint64_t seconds;
    std::string shown;
  };
  for (const Uptime& u : std::vector<Uptime>{{0, "0s"},
                                             {59, "59s"},
                                             {60, "1m 0s"},
                                             {3600, "1h 0m 0s"},
                                             {86400 * 400 + 5, "400d 0h 0m 5s"}}) {
    status.uptime_seconds = u.seconds;
    CHECK(row(render(status), "uptime") == u.shown);
  }
  status.started_unix = 0;
  CHECK(row(render(status), "started") == "unknown");
  status.started_unix = INT64_MAX;  // no calendar date: the number
  CHECK(row(render(status), "started") == "@9223372036854775807");
  status.version.clear();
  CHECK(row(render(status), "version") == "unknown");

  status.journal_ok = true;
  CHECK(row(render(status), "journal") == "ok");
  status.journal_ok = false;
  status.journal_error.clear();
  CHECK(row(render(status), "journal") == "error");

  status.memory_bytes = 1536 * 1024;
  status.memory_limit_bytes = 0;
  CHECK(row(render(status), "memory") == "1.5 MiB (no limit)");
  status.memory_limit_bytes = 1024 * 1024;
  CHECK(row(render(status), "memory") == "1.5 MiB of 1.0 MiB (150%)");
  status.memory_bytes = UINT64_MAX;
  status.memory_limit_bytes = 1;
  CHECK(row(render(status), "memory").rfind("17592186044416.0 MiB of 0.0 MiB (", 0) == 0);

  status.messages = UINT64_MAX;
  CHECK(row(render(status), "messages") == "18446744073709551615");
}

TEST_CASE("status view: reply strings are safe on a terminal", "[admin][status][bulkqctl]") {
  EngineStatus status = sample_status();
  struct Case {
    std::string text;
    std::string shown;
  };
  const std::vector<Case> cases = {
      {"\x1b[2Jgone", "\\x1b[2Jgone"},
      {"two\nlines\r", "two\\x0alines\\x0d"},
      {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},  // UTF-8 as it is
      {"\xc2\x9b"
       "31m",
       "\\xc2\\x9b31m"},  // C1 CSI, in UTF-8
      {"del\x7f", "del\\x7f"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    status.version = c.text;
    CHECK(row(render(status), "version") == c.shown);
    status.journal_error = c.text;
    CHECK(row(render(status), "journal") == "error: " + c.shown);
  }
  // Raw bytes that are not UTF-8, as a daemon other than ours might send them.
  std::string reply = status_reply_json(sample_status());
  const std::string version = R"("version":"0.1.0")";
  reply.replace(reply.find(version), version.size(), "\"version\":\"\xff\xc3(\xed\xa0\x80\"");
  const StatusView view = render_status_view(reply);
  REQUIRE(view.error == "");
  CHECK(row(view.text, "version") == "\\xff\\xc3(\\xed\\xa0\\x80");
}

TEST_CASE("status view: refusals and malformed replies", "[admin][status][bulkqctl]") {
  struct Case {
    std::string reply;
    std::string error;
  };
  const std::string good = status_reply_json(sample_status());
  const auto without = [&good](const std::string& member) {
    std::string reply = good;
    const std::size_t at = reply.find("\"" + member + "\":");
    REQUIRE(at != std::string::npos);
    reply.replace(at, member.size() + 3, "\"x_" + member + "\":");
    return reply;
  };
  const auto replacing = [&good](const std::string& from, const std::string& to) {
    std::string reply = good;
    const std::size_t at = reply.find(from);
    REQUIRE(at != std::string::npos);
    reply.replace(at, from.size(), to);
    return reply;
  };
  const std::vector<Case> cases = {
      {R"({"ok":false,"error":"permission denied"})", "permission denied"},
      {R"({"ok":false,"error":"\u001b[2J"})", "\\x1b[2J"},
      {"not json", "malformed reply: unexpected character (at byte 0)"},
      {R"({"ok":true})", "malformed status reply: it has no \"status\" object"},
      {R"({"ok":true,"status":[]})", "malformed status reply: it has no \"status\" object"},
      {without("messages"), "malformed status reply: \"status.messages\" is missing"},
      {without("dropped_records"), "malformed status reply: \"status.dropped_records\" is missing"},
      {without("spool"), "malformed status reply: \"status.fail_open.spool\" is missing"},
      {replacing(R"("fail_open":{)", R"("fail_open":7,"unused":{)"),
       "malformed status reply: \"status.fail_open\" is not an object"},
      {replacing(R"("messages":1200)", R"("messages":-1)"),
       "malformed status reply: \"status.messages\" is not a whole number from 0 to 2^64-1"},
      {replacing(R"("messages":1200)", R"("messages":1.5)"),
       "malformed status reply: \"status.messages\" is not a whole number from 0 to 2^64-1"},
      {replacing(R"("messages":1200)", R"("messages":"1200")"),
       "malformed status reply: \"status.messages\" is not a whole number from 0 to 2^64-1"},
      {replacing(R"("started_unix":1796040000)", R"("started_unix":9223372036854775808)"),
       "malformed status reply: \"status.started_unix\" is not a whole number that fits 64 bits"},
      {replacing(R"("journal_ok":false)", R"("journal_ok":0)"),
       "malformed status reply: \"status.journal_ok\" is not true or false"},
      {replacing(R"("version":"0.1.0")", R"("version":null)"),
       "malformed status reply: \"status.version\" is not a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.reply);
    const StatusView view = render_status_view(c.reply);
    CHECK(view.error == c.error);
    CHECK(view.text == "");
  }
  // Members the table does not show are ignored: a newer daemon may add some.
  CHECK(render_status_view(replacing(R"("ok":true,)", R"("ok":true,"new":[1,{}],)")).ok());
}
