#include "milter/logging.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <string_view>
#include <system_error>

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

namespace bulkq {
namespace {

spdlog::level::level_enum to_spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warning:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::critical:
      return spdlog::level::critical;
  }
  return spdlog::level::info;
}

// The "%*" flag: Postfix's severity prefix (msg.c) — nothing for info, "warning: " and so on
// otherwise — so a line reads the same in the mail log as the MTA's own.
class SeverityPrefix final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& out) override {
    std::string_view prefix;
    switch (message.level) {
      case spdlog::level::trace:
        prefix = "trace: ";
        break;
      case spdlog::level::debug:
        prefix = "debug: ";
        break;
      case spdlog::level::warn:
        prefix = "warning: ";
        break;
      case spdlog::level::err:
        prefix = "error: ";
        break;
      case spdlog::level::critical:
        prefix = "critical: ";
        break;
      default:
        break;
    }
    out.append(prefix.data(), prefix.data() + prefix.size());
  }

  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SeverityPrefix>();
  }
};

// syslog stamps time, host and "bulkqd[pid]" itself and wants no newline; a file or stderr gets
// them from the pattern.
std::unique_ptr<spdlog::formatter> line_formatter(bool for_syslog) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      spdlog::pattern_time_type::local, for_syslog ? std::string() : std::string("\n"));
  formatter->add_flag<SeverityPrefix>('*').set_pattern(
      for_syslog ? "%*%v" : "%Y-%m-%d %H:%M:%S.%e bulkqd[%P]: %*%v");
  return formatter;
}

// spdlog's message repeats the path ("Failed opening file X for writing: reason"); asking the
// system again gives just the reason, in the same words as every other error bulkqd prints.
std::string open_failure_reason(const std::string& path, const std::exception& spdlog_error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    ::close(fd);
    return spdlog_error.what();
  }
  return std::generic_category().message(errno);
}

}  // namespace

DaemonLogger make_daemon_logger(const LogConfig& config, bool foreground) {
  try {
    const LogTarget target = foreground ? LogTarget::stderr_stream : config.target;
    spdlog::sink_ptr sink;
    switch (target) {
      case LogTarget::syslog:
        sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("bulkqd", LOG_PID, LOG_MAIL,
                                                               /*enable_formatting=*/true);
        break;
      case LogTarget::file:
        // Appends; spdlog throws, with the system's reason, if the file cannot be opened.
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file, false);
        break;
      case LogTarget::stderr_stream:
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        break;
    }
    sink->set_formatter(line_formatter(target == LogTarget::syslog));
    auto logger = std::make_shared<spdlog::logger>("bulkqd", std::move(sink));
    logger->set_level(to_spdlog_level(config.level));
    // Every line reaches the file at once: a daemon killed a moment later must not lose the
    // lines that explain why. (Revisit when delivery logs a line per recipient.)
    logger->flush_on(spdlog::level::trace);
    return {std::move(logger), {}};
  } catch (const std::exception& e) {
    if (config.target == LogTarget::file && !foreground) {
      return {nullptr,
              "cannot open log file " + config.file + ": " + open_failure_reason(config.file, e)};
    }
    return {nullptr, std::string("cannot set up logging: ") + e.what()};
  }
}

std::shared_ptr<spdlog::logger> make_async_logger(
    const std::shared_ptr<spdlog::logger>& sync_logger) {
  // 8192 lines of backlog: seconds of the busiest intake; beyond that the oldest go, not the
  // MTA's time.
  spdlog::init_thread_pool(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(
      "bulkqd", sync_logger->sinks().begin(), sync_logger->sinks().end(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  logger->set_level(sync_logger->level());
  logger->flush_on(spdlog::level::trace);
  return logger;
}

void set_log_level(spdlog::logger& logger, LogLevel level) {
  logger.set_level(to_spdlog_level(level));
}

}  // namespace bulkq
