// bulkqd's command line: getopt-style flags, every usage error, and the exit status each outcome
// decides.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "milter/bulkqd_command_line.h"

using namespace bulkq;

namespace {

BulkqdCommandLine parse(const std::vector<std::string_view>& args) {
  return parse_bulkqd_command_line(args);
}

}  // namespace

TEST_CASE("bulkqd command line: accepted forms", "[bulkqd]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string config_path;
    bool foreground;
    bool check_only;
  };
  const std::string default_config(kDefaultConfigPath);
  const std::vector<Case> cases = {
      {{}, default_config, false, false},
      {{"-f"}, default_config, true, false},
      {{"-t"}, default_config, false, true},
      {{"-f", "-t"}, default_config, true, true},
      {{"-ft"}, default_config, true, true},
      {{"-tf"}, default_config, true, true},
      {{"-c", "/etc/other.toml"}, "/etc/other.toml", false, false},
      {{"-c/etc/other.toml"}, "/etc/other.toml", false, false},
      {{"-t", "-c", "relative.toml"}, "relative.toml", false, true},
      {{"-ftc", "/x.toml"}, "/x.toml", true, true},
      {{"-fc/x.toml", "-t"}, "/x.toml", true, true},
      {{"-f", "-f"}, default_config, true, false},
      {{"-c", "-t"}, "-t", false, false},  // getopt's reading: -c takes the next word
      {{"-f", "--"}, default_config, true, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const BulkqdCommandLine line = parse(c.args);
    REQUIRE(line.error == "");
    REQUIRE(line.action == BulkqdCommandLine::Action::run);
    CHECK(line.options.config_path == c.config_path);
    CHECK(line.options.foreground == c.foreground);
    CHECK(line.options.check_only == c.check_only);
    CHECK(line.exit_status() == BulkqdExit::ok);
  }
}

TEST_CASE("bulkqd command line: -h and --help ask for help", "[bulkqd]") {
  for (const std::vector<std::string_view>& args :
       std::vector<std::vector<std::string_view>>{{"-h"}, {"--help"}, {"-fh"}, {"-t", "-h"}}) {
    CAPTURE(args);
    const BulkqdCommandLine line = parse(args);
    CHECK(line.action == BulkqdCommandLine::Action::help);
    CHECK(line.exit_status() == BulkqdExit::ok);
  }
  CHECK(bulkqd_usage().rfind("usage: bulkqd [-c FILE] [-f] [-t]\n", 0) == 0);
}

TEST_CASE("bulkqd command line: usage errors exit 2", "[bulkqd]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"-x"}, "unknown option \"-x\""},
      {{"-fx"}, "unknown option \"-x\""},
      {{"--foreground"}, "unknown option \"--foreground\""},
      {{"-c"}, "-c needs a file name"},
      {{"-t", "-c"}, "-c needs a file name"},
      {{"-c", ""}, "-c needs a file name"},
      {{"-c", "a.toml", "-c", "b.toml"}, "-c given more than once"},
      {{"-ca.toml", "-cb.toml"}, "-c given more than once"},
      {{"start"}, "unexpected argument \"start\""},
      {{"-f", "extra"}, "unexpected argument \"extra\""},
      {{"-"}, "unexpected argument \"-\""},
      {{"--", "-f"}, "unexpected argument \"-f\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const BulkqdCommandLine line = parse(c.args);
    CHECK(line.action == BulkqdCommandLine::Action::usage_error);
    CHECK(line.error == c.error);
    CHECK(line.exit_status() == BulkqdExit::usage_error);
  }
}

TEST_CASE("bulkqd command line: exit statuses are 0, 1 and 2", "[bulkqd]") {
  CHECK(static_cast<int>(BulkqdExit::ok) == 0);
  CHECK(static_cast<int>(BulkqdExit::failed) == 1);
  CHECK(static_cast<int>(BulkqdExit::usage_error) == 2);
}
