// bulkqctl's command line: every accepted form, every usage error, and the exit status each
// outcome decides.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/bulkqctl_command_line.h"

using namespace bulkq;

namespace {

BulkqctlCommandLine parse(const std::vector<std::string_view>& args) {
  return parse_bulkqctl_command_line(args);
}

}  // namespace

TEST_CASE("bulkqctl command line: accepted forms", "[bulkqctl]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string config_path;
    std::string socket_path;
    std::string request_line;
    bool json;
  };
  const std::string default_config(kDefaultConfigPath);
  const std::vector<Case> cases = {
      {{"status"}, default_config, "", "status", false},
      {{"status", "--json"}, default_config, "", "status", true},
      {{"--json", "status"}, default_config, "", "status", true},
      {{"queues", "--json", "--top", "5"}, default_config, "", "queues --top 5", true},
      {{"-c", "/etc/other.toml", "queues"}, "/etc/other.toml", "", "queues", false},
      {{"-c/etc/other.toml", "queues"}, "/etc/other.toml", "", "queues", false},
      {{"-s", "/tmp/a.sock", "pause", "Example.COM"},
       default_config,
       "/tmp/a.sock",
       "pause example.com",
       false},
      {{"-s./rel.sock", "flush"}, default_config, "./rel.sock", "flush", false},
      {{"-s", "/tmp/a.sock", "--json", "release", "--all"},
       default_config,
       "/tmp/a.sock",
       "release --all",
       true},
      {{"-s", "/tmp/a.sock", "--", "dns", "example.org"},
       default_config,
       "/tmp/a.sock",
       "dns example.org",
       false},
      {{"domain", "example.net"}, default_config, "", "domain example.net", false},
      {{"resume", "example.net"}, default_config, "", "resume example.net", false},
      {{"release", "example.net"}, default_config, "", "release example.net", false},
      {{"metrics"}, default_config, "", "metrics", false},
      {{"reload"}, default_config, "", "reload", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const BulkqctlCommandLine line = parse(c.args);
    REQUIRE(line.error == "");
    REQUIRE(line.action == BulkqctlCommandLine::Action::run);
    CHECK(line.options.config_path == c.config_path);
    CHECK(line.options.socket_path == c.socket_path);
    CHECK(to_request_line(line.options.request) == c.request_line);
    CHECK(line.options.json == c.json);
    CHECK(line.exit_status() == BulkqctlExit::ok);
  }
}

TEST_CASE("bulkqctl command line: -h and --help anywhere ask for help", "[bulkqctl]") {
  for (const std::vector<std::string_view>& args :
       std::vector<std::vector<std::string_view>>{{"-h"},
                                                  {"--help"},
                                                  {"-s", "/x", "-h"},
                                                  {"queues", "--help"},
                                                  {"-c", "-x", "--help"},
                                                  {"nonsense", "-h"}}) {
    CAPTURE(args);
    const BulkqctlCommandLine line = parse(args);
    CHECK(line.action == BulkqctlCommandLine::Action::help);
    CHECK(line.exit_status() == BulkqctlExit::ok);
  }
  CHECK(bulkqctl_usage().rfind("usage: bulkqctl [-c FILE | -s SOCKET] COMMAND [ARGS] [--json]\n",
                               0) == 0);
}

TEST_CASE("bulkqctl command line: usage errors exit 2", "[bulkqctl]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string error;
  };
  const std::string too_long_socket = "/" + std::string(107, 's');
  const std::vector<Case> cases = {
      {{}, "missing command"},
      {{"--json"}, "missing command"},
      {{"-s", "/tmp/a.sock"}, "missing command"},
      {{"-c"}, "-c needs a file name"},
      {{"-s"}, "-s needs a socket path"},
      {{"-c", ""}, "-c needs a file name"},
      {{"-s", "", "status"}, "-s needs a socket path"},
      {{"-c", "a.toml", "-s", "/tmp/a.sock", "status"}, "-c and -s cannot be used together"},
      {{"-s", "/tmp/a.sock", "-c", "a.toml", "status"}, "-c and -s cannot be used together"},
      {{"-c", "a.toml", "-c", "b.toml", "status"}, "-c given more than once"},
      {{"-s", "/a", "-s", "/b", "status"}, "-s given more than once"},
      {{"-x", "status"}, "unknown option \"-x\""},
      {{"--socket", "/a", "status"}, "unknown option \"--socket\""},
      {{"-s", too_long_socket, "status"},
       "socket path is 108 bytes long (a Unix socket address holds at most 107)"},
      {{"stauts"},
       "unknown command \"stauts\" (expected status, queues, domain, messages, pause, resume, "
       "flush, dns, release, metrics or reload)"},
      {{"pause"}, "pause: missing domain (usage: pause DOMAIN)"},
      {{"pause", "a..b"}, "pause: invalid domain \"a..b\": empty label in domain"},
      {{"pause", "a b"}, "word \"a b\" contains a space or a control character"},
      {{"queues", "--top", "0"}, "queues: --top \"0\" is not a number from 1 to 100000"},
      {{"status", "-s", "/a"}, "status: unexpected argument \"-s\" (usage: status)"},
      {{"release"}, "release: missing domain or --all (usage: release DOMAIN | release --all)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const BulkqctlCommandLine line = parse(c.args);
    CHECK(line.action == BulkqctlCommandLine::Action::usage_error);
    CHECK(line.error == c.error);
    CHECK(line.exit_status() == BulkqctlExit::usage_error);
    CHECK(static_cast<int>(line.exit_status()) == 2);
  }
}

TEST_CASE("bulkqctl command line: exit statuses are 0, 1 and 2", "[bulkqctl]") {
  CHECK(static_cast<int>(BulkqctlExit::ok) == 0);
  CHECK(static_cast<int>(BulkqctlExit::request_failed) == 1);
  CHECK(static_cast<int>(BulkqctlExit::usage_error) == 2);
}
