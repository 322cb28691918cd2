// bulkqd's logger: spdlog to syslog (mail facility), a file or stderr, as the configuration says.
//
// Built once on bulkqd's main thread before it becomes a daemon, so a log file that cannot be
// opened is reported on the terminal. The logger itself is thread-safe (spdlog's _mt sinks) and
// is installed as spdlog's default logger for the engine to use. Lines have Postfix's shape:
// severity "warning: ", "error: " … in front of the text, none for info, so the MTA's usual log
// tools read them. Only this file and its callers' .cpp files see spdlog.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace bulkq {

struct DaemonLogger {
  std::shared_ptr<spdlog::logger> logger;  // set when ok()
  std::string error;                       // set when !ok(), e.g. the log file cannot be opened
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// `foreground` (bulkqd -f) logs to stderr whatever log.target says.
[[nodiscard]] DaemonLogger make_daemon_logger(const LogConfig& config, bool foreground);

// Applies a new minimum level (on SIGHUP); thread-safe.
void set_log_level(spdlog::logger& logger, LogLevel level);

}  // namespace bulkq
