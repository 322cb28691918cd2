// The admin socket's request line: every command's accepted forms, round trips through
// to_request_line, and a clear error for every malformed line.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_request.h"

using namespace bulkq;

namespace {

AdminRequest request(AdminCommand command, std::string domain = {}, std::uint32_t top = 0,
                     bool all = false) {
  AdminRequest r;
  r.command = command;
  r.domain = std::move(domain);
  r.top = top;
  r.all = all;
  return r;
}

AdminRequest paged(std::string domain, std::uint32_t page) {
  AdminRequest r = request(AdminCommand::messages, std::move(domain));
  r.page = page;
  return r;
}

AdminRequest sorted_by(QueueOrder order, std::uint32_t top) {
  AdminRequest r = request(AdminCommand::queues, {}, top);
  r.sort = order;
  return r;
}
AdminRequest sorted_by_age(std::uint32_t top) {
  return sorted_by(QueueOrder::age, top);
}

}  // namespace

TEST_CASE("admin request: every command's accepted forms", "[admin]") {
  struct Case {
    std::string line;
    AdminRequest expected;
    std::string canonical_line;  // what to_request_line gives back
  };
  const std::vector<Case> cases = {
      {"status", request(AdminCommand::status), "status"},
      {"queues", request(AdminCommand::queues), "queues"},
      {"queues --top 10", request(AdminCommand::queues, {}, 10), "queues --top 10"},
      {"queues --top 1", request(AdminCommand::queues, {}, 1), "queues --top 1"},
      {"queues --top 100000", request(AdminCommand::queues, {}, 100000), "queues --top 100000"},
      {"queues --top 007", request(AdminCommand::queues, {}, 7), "queues --top 7"},
      {"queues --sort age", sorted_by_age(0), "queues --sort age"},
      {"queues --sort rate --top 5", sorted_by(QueueOrder::rate, 5), "queues --top 5 --sort rate"},
      {"messages Example.COM", request(AdminCommand::messages, "example.com"),
       "messages example.com"},
      {"messages a.test --page 3", paged("a.test", 3), "messages a.test --page 3"},
      {"messages a.test --page 1", paged("a.test", 1), "messages a.test --page 1"},
      {"queues --sort size --top 3", request(AdminCommand::queues, {}, 3), "queues --top 3"},
      {"queues --sort age --top 3", sorted_by_age(3), "queues --top 3 --sort age"},
      {"queues --top 3 --sort age", sorted_by_age(3), "queues --top 3 --sort age"},
      {"domain example.com", request(AdminCommand::domain, "example.com"), "domain example.com"},
      {"pause Example.COM.", request(AdminCommand::pause, "example.com"), "pause example.com"},
      {"resume example.com", request(AdminCommand::resume, "example.com"), "resume example.com"},
      {"flush", request(AdminCommand::flush), "flush"},
      {"flush example.org", request(AdminCommand::flush, "example.org"), "flush example.org"},
      {"dns b\xc3\xbc"
       "cher.de",
       request(AdminCommand::dns, "xn--bcher-kva.de"), "dns xn--bcher-kva.de"},
      {"dns [192.0.2.1]", request(AdminCommand::dns, "[192.0.2.1]"), "dns [192.0.2.1]"},
      {"release example.net", request(AdminCommand::release, "example.net"), "release example.net"},
      {"release --all", request(AdminCommand::release, {}, 0, true), "release --all"},
      {"metrics", request(AdminCommand::metrics), "metrics"},
      {"reload", request(AdminCommand::reload), "reload"},
      // Separators: any run of spaces and tabs; a trailing CR from a terminal client.
      {"  pause \t example.com  ", request(AdminCommand::pause, "example.com"),
       "pause example.com"},
      {"status\r", request(AdminCommand::status), "status"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    const AdminRequestResult parsed = parse_admin_request(c.line);
    REQUIRE(parsed.error == "");
    CHECK(parsed.request == c.expected);
    const std::string line = to_request_line(parsed.request);
    CHECK(line == c.canonical_line);
    const AdminRequestResult again = parse_admin_request(line);
    REQUIRE(again.ok());
    CHECK(again.request == parsed.request);
  }
}

TEST_CASE("admin request: every command word round-trips", "[admin]") {
  for (AdminCommand command : kAdminCommands) {
    CAPTURE(to_string(command));
    CHECK(parse_admin_command(to_string(command)) == command);
  }
  CHECK_FALSE(parse_admin_command("Status").has_value());
  CHECK_FALSE(parse_admin_command("").has_value());
}

TEST_CASE("admin request: malformed lines give a clear error", "[admin]") {
  struct Case {
    std::string line;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "empty request"},
      {"   \t ", "empty request"},
      {"stats",
       "unknown command \"stats\" (expected status, queues, domain, messages, pause, resume, "
       "flush, dns, release, metrics or reload)"},
      {"STATUS",
       "unknown command \"STATUS\" (expected status, queues, domain, messages, pause, resume, "
       "flush, dns, release, metrics or reload)"},
      {"status now", "status: unexpected argument \"now\" (usage: status)"},
      {"metrics --json", "metrics: unexpected argument \"--json\" (usage: metrics)"},
      {"reload x", "reload: unexpected argument \"x\" (usage: reload)"},
      {"queues --top",
       "queues: --top needs a number (usage: queues [--top N] [--sort size|age|rate])"},
      {"queues --top 0", "queues: --top \"0\" is not a number from 1 to 100000"},
      {"queues --top 100001", "queues: --top \"100001\" is not a number from 1 to 100000"},
      {"queues --top -5", "queues: --top \"-5\" is not a number from 1 to 100000"},
      {"queues --top +5", "queues: --top \"+5\" is not a number from 1 to 100000"},
      {"queues --top 5x", "queues: --top \"5x\" is not a number from 1 to 100000"},
      {"queues --top 99999999999999999999",
       "queues: --top \"99999999999999999999\" is not a number from 1 to 100000"},
      {"queues --top 5 --top 6",
       "queues: unexpected argument \"--top\" (usage: queues [--top N] [--sort size|age|rate])"},
      {"queues 5",
       "queues: unexpected argument \"5\" (usage: queues [--top N] [--sort size|age|rate])"},
      {"queues --sort",
       "queues: --sort needs size, age or rate (usage: queues [--top N] [--sort size|age|rate])"},
      {"queues --sort speed", "queues: --sort \"speed\" is not size, age or rate"},
      {"messages", "messages: missing domain (usage: messages DOMAIN [--page N])"},
      {"messages a.test --page",
       "messages: --page needs a number (usage: messages DOMAIN [--page N])"},
      {"messages a.test --page 0", "messages: --page \"0\" is not a number from 1 to 100000"},
      {"messages a.test 2",
       "messages: unexpected argument \"2\" (usage: messages DOMAIN [--page N])"},
      {"queues --sort age --sort size",
       "queues: unexpected argument \"--sort\" (usage: queues [--top N] [--sort size|age|rate])"},
      {"domain", "domain: missing domain (usage: domain DOMAIN)"},
      {"pause", "pause: missing domain (usage: pause DOMAIN)"},
      {"resume", "resume: missing domain (usage: resume DOMAIN)"},
      {"dns", "dns: missing domain (usage: dns DOMAIN)"},
      {"pause a.example b.example",
       "pause: unexpected argument \"b.example\" (usage: pause DOMAIN)"},
      {"pause --all", "pause: unknown option \"--all\" (usage: pause DOMAIN)"},
      {"pause a..example", "pause: invalid domain \"a..example\": empty label in domain"},
      {"domain exa_mple.com",
       "domain: invalid domain \"exa_mple.com\": invalid character '_' in domain"},
      {"flush a.example b", "flush: unexpected argument \"b\" (usage: flush [DOMAIN])"},
      {"flush -x", "flush: unknown option \"-x\" (usage: flush [DOMAIN])"},
      {"release", "release: missing domain or --all (usage: release DOMAIN | release --all)"},
      {"release --all a.example",
       "release: unexpected argument \"a.example\" (usage: release DOMAIN | release --all)"},
      {"release --al", "release: unknown option \"--al\" (usage: release DOMAIN | release --all)"},
      {std::string("status\0", 7), "NUL byte in request"},
      {"pause a.example\x1b[2J", "control character in request"},
      {"status\n", "control character in request"},
      {"dns \xff\xfe.example",
       "dns: invalid domain \"\\xff\\xfe.example\": invalid internationalised domain: string "
       "encoding error"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    const AdminRequestResult parsed = parse_admin_request(c.line);
    CHECK_FALSE(parsed.ok());
    CHECK(parsed.error == c.error);
  }
}

TEST_CASE("admin request: lines are bounded at 4096 bytes", "[admin]") {
  // The longest legal line: "flush " and a 4090-byte word (refused as a domain, but read).
  const std::string longest = "flush " + std::string(kMaxAdminRequestLength - 6, 'a');
  CHECK(parse_admin_request(longest).error.rfind("flush: invalid domain \"aaaa", 0) == 0);
  const AdminRequestResult too_long = parse_admin_request(longest + "a");
  CHECK(too_long.error == "request longer than 4096 bytes");
  // Quoted words in errors are cut, so an error stays short whatever was sent.
  CHECK(parse_admin_request(longest).error.size() < 200);
}

TEST_CASE("admin request: the word form refuses words that cannot travel as one word", "[admin]") {
  const std::vector<std::string_view> spaced{"pause", "a example"};
  CHECK(parse_admin_request_words(spaced).error ==
        "word \"a example\" contains a space or a control character");
  const std::vector<std::string_view> newline{"status", "x\ny"};
  CHECK(parse_admin_request_words(newline).error ==
        "word \"x\\x0ay\" contains a space or a control character");
  const std::vector<std::string_view> empty_word{"pause", ""};
  CHECK(parse_admin_request_words(empty_word).error == "empty word in request");
  CHECK(parse_admin_request_words({}).error == "empty request");
  const std::vector<std::string_view> good{"queues", "--top", "3"};
  const AdminRequestResult parsed = parse_admin_request_words(good);
  REQUIRE(parsed.ok());
  CHECK(parsed.request == request(AdminCommand::queues, {}, 3));
}
