// bulkqd: the bulkq daemon. `bulkqd [-c FILE] [-f] [-t]`
//
// Main thread: reads the command line and the configuration, opens the log, becomes a daemon
// (unless -f), builds the engine and then waits for signals — SIGTERM/SIGINT stop it, SIGHUP
// re-reads the configuration. Errors before the daemon detaches go to the terminal (exit 1);
// after, to the log. In this version the engine is built but nothing feeds it yet: the milter
// intake comes next.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config_changes.h"
#include "config/config_parser.h"
#include "core/clock.h"
#include "core/scheduler.h"
#include "intake/intake_handoff.h"
#include "milter/bulkqd_command_line.h"
#include "milter/daemon_startup.h"
#include "milter/logging.h"

namespace {

using bulkq::BulkqdExit;

int exit_with(BulkqdExit status) {
  return static_cast<int>(status);
}

void print_error(std::string_view message) {
  std::fprintf(stderr, "bulkqd: %.*s\n", static_cast<int>(message.size()), message.data());
}

// A multi-line configuration error becomes one log line per line.
void log_lines(spdlog::logger& logger, spdlog::level::level_enum level, const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    logger.log(level, "{}", std::string_view(text).substr(start, end - start));
    start = end + 1;
  }
}

// SIGHUP: only the log level can change while running in this version; every other change is
// reported as waiting for a restart, and keeps being reported until then.
void reload_configuration(const std::string& path, bulkq::Config& running, spdlog::logger& logger) {
  const bulkq::ConfigResult fresh = bulkq::load_config_file(path);
  if (!fresh.ok()) {
    logger.error("reload: configuration {} is invalid; the running configuration stays", path);
    log_lines(logger, spdlog::level::err, fresh.error);
    return;
  }
  std::string waiting;
  bool level_changed = false;
  for (std::string_view key : bulkq::changed_settings(running, fresh.config)) {
    if (key == "log.level") {
      level_changed = true;
      continue;
    }
    waiting += (waiting.empty() ? "" : ", ") + std::string(key);
  }
  if (level_changed) {
    bulkq::set_log_level(logger, fresh.config.log.level);
    running.log.level = fresh.config.log.level;
  }
  logger.info("reload: configuration {} is valid; log.level is {}{}", path,
              bulkq::to_string(running.log.level), level_changed ? " (changed)" : "");
  if (!waiting.empty()) {
    logger.warn("reload: changed settings that take effect only after a restart: {}", waiting);
  }
}

// Returns the exit status once SIGTERM or SIGINT arrives.
int serve_signals(const sigset_t& signals, const std::string& config_path, bulkq::Config& running,
                  spdlog::logger& logger) {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      reload_configuration(config_path, running, logger);
      continue;
    }
    logger.info("bulkqd stopping");
    return exit_with(BulkqdExit::ok);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using bulkq::BulkqdCommandLine;

  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const BulkqdCommandLine command_line = bulkq::parse_bulkqd_command_line(args);
  const std::string_view usage = bulkq::bulkqd_usage();
  switch (command_line.action) {
    case BulkqdCommandLine::Action::help:
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return exit_with(command_line.exit_status());
    case BulkqdCommandLine::Action::usage_error:
      print_error(command_line.error);
      std::fwrite(usage.data(), 1, usage.size(), stderr);
      return exit_with(command_line.exit_status());
    case BulkqdCommandLine::Action::run:
      break;
  }
  const bulkq::BulkqdOptions& options = command_line.options;

  bulkq::ConfigResult loaded = bulkq::load_config_file(options.config_path);
  if (options.check_only) {
    if (!loaded.ok()) {
      print_error(loaded.error);
      return exit_with(BulkqdExit::failed);
    }
    std::printf("bulkqd: configuration %s is valid\n", options.config_path.c_str());
    return exit_with(BulkqdExit::ok);
  }
  if (!loaded.ok()) {
    print_error(loaded.error);
    return exit_with(BulkqdExit::failed);
  }
  bulkq::Config config = std::move(loaded.config);

  const bulkq::DaemonLogger log = bulkq::make_daemon_logger(config.log, options.foreground);
  if (!log.ok()) {
    print_error(log.error);
    return exit_with(BulkqdExit::failed);
  }
  spdlog::logger& logger = *log.logger;
  spdlog::set_default_logger(log.logger);

  // Blocked before any fork or thread, so every thread inherits the mask and these signals
  // arrive only through sigwait() below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket is an error to handle, not a death

  // SIGHUP re-reads the file after the daemon has moved to "/": a relative -c must still name it.
  std::error_code cwd_error;
  const std::string config_path =
      std::filesystem::absolute(options.config_path, cwd_error).lexically_normal().string();

  std::optional<bulkq::DaemonStartup> startup;
  if (!options.foreground) {
    startup.emplace(bulkq::DaemonStartup::detach());
    if (!startup->ok()) {
      print_error(startup->error());
      return exit_with(BulkqdExit::failed);
    }
  }

  bool started = false;
  try {
    const bulkq::SystemClock clock;
    bulkq::Scheduler scheduler(clock, config.scheduler);
    bulkq::IntakeHandoff handoff(config.handoff_capacity);
    logger.info(
        "bulkqd {} started: policy={} batch_max_recipients={} handoff_capacity={}; milter intake "
        "is not implemented in this version yet",
        BULKQD_VERSION, bulkq::to_string(config.scheduler.policy),
        config.scheduler.batch_max_recipients, handoff.capacity());
    if (startup) startup->report_started();
    started = true;
    return serve_signals(signals, cwd_error ? options.config_path : config_path, config, logger);
  } catch (const std::exception& e) {
    logger.critical(
        "{}: {}", started ? "bulkqd stopping after an unexpected error" : "cannot start", e.what());
    return exit_with(BulkqdExit::failed);
  }
}
