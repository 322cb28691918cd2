// bulkqd's command line, `bulkqd [-c FILE] [-f] [-t]`, read into options or a usage error.
//
// Pure (no I/O), so every case is unit-tested; bulkqd's main thread calls it once at start-up.
// Options follow getopt's conventions, like Postfix's own programs: flags may be grouped ("-ft")
// and -c takes its value attached ("-c/etc/x.toml") or as the next word.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"

namespace bulkq {

// bulkqd's exit statuses (DESIGN §3.9).
enum class BulkqdExit : int {
  ok = 0,           // -t found the configuration valid, -h, or a clean stop on SIGTERM
  failed = 1,       // the configuration is invalid, or start-up failed
  usage_error = 2,  // the command line is wrong
};

struct BulkqdOptions {
  std::string config_path{kDefaultConfigPath};  // -c
  bool foreground = false;                      // -f: no daemon, log to stderr
  bool check_only = false;                      // -t: check the configuration and exit
};

struct BulkqdCommandLine {
  enum class Action : std::uint8_t { run, help, usage_error };
  Action action = Action::run;
  BulkqdOptions options;  // meaningful when action is run
  std::string error;      // set when action is usage_error

  // help → ok, usage error → usage_error; for run, ok here and the run decides.
  [[nodiscard]] BulkqdExit exit_status() const {
    return action == Action::usage_error ? BulkqdExit::usage_error : BulkqdExit::ok;
  }
};

// `args` are argv[1..argc-1].
[[nodiscard]] BulkqdCommandLine parse_bulkqd_command_line(std::span<const std::string_view> args);

// The help text, ending in a newline.
[[nodiscard]] std::string_view bulkqd_usage();

}  // namespace bulkq
