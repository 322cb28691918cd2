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

// The logger the running daemon uses: the same sinks, level and format as `sync_logger`, but a
// line is only queued by the thread that logs it (spdlog's async logger, one writer thread, a
// bounded queue that drops the oldest lines rather than wait when it is full). So a milter
// callback never waits for a write to syslog, a file or a pipe, nor for another thread's write.
// Call it after the daemon has forked (threads do not survive fork) and once only; call
// spdlog::shutdown() before exiting so the queued lines are written.
[[nodiscard]] std::shared_ptr<spdlog::logger> make_async_logger(
    const std::shared_ptr<spdlog::logger>& sync_logger);

// Applies a new minimum level (on SIGHUP); thread-safe.
void set_log_level(spdlog::logger& logger, LogLevel level);

}  // namespace bulkq
