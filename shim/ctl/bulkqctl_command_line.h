// bulkqctl's command line, `bulkqctl [-c FILE | -s SOCKET] COMMAND [ARGS] [--json]`, read into
// options or a usage error.
//
// Pure (no I/O), so every case is unit-tested; bulkqctl's main thread calls it once. The command
// words are the admin socket's request words (admin/admin_request.h), checked here so a typo is a
// usage error (exit 2) before anything connects.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "admin/admin_request.h"
#include "config/config.h"

namespace bulkq {

// bulkqctl's exit statuses (DESIGN §3.9).
enum class BulkqctlExit : int {
  ok = 0,              // the daemon did what was asked (or --help)
  request_failed = 1,  // no answer, or the daemon said no
  usage_error = 2,     // the command line is wrong; nothing was sent
};

struct BulkqctlOptions {
  std::string config_path{kDefaultConfigPath};  // read for admin.socket when socket_path is empty
  std::string socket_path;                      // -s; when set, no configuration file is read
  AdminRequest request;
  bool json = false;  // --json: print the daemon's JSON reply as it is
};

struct BulkqctlCommandLine {
  enum class Action : std::uint8_t { run, help, usage_error };
  Action action = Action::run;
  BulkqctlOptions options;  // meaningful when action is run
  std::string error;        // set when action is usage_error

  // The exit status the command line alone decides: help → ok, usage error → usage_error. For
  // run, ok here; the daemon's reply decides the final status.
  [[nodiscard]] BulkqctlExit exit_status() const {
    return action == Action::usage_error ? BulkqctlExit::usage_error : BulkqctlExit::ok;
  }
};

// `args` are argv[1..argc-1]. Options come before COMMAND; --json and -h/--help may appear
// anywhere.
[[nodiscard]] BulkqctlCommandLine parse_bulkqctl_command_line(
    std::span<const std::string_view> args);

// The help text, ending in a newline.
[[nodiscard]] std::string_view bulkqctl_usage();

}  // namespace bulkq
