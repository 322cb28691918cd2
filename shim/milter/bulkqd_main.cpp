// bulkqd: the bulkq daemon. `bulkqd [-c FILE] [-f] [-t]`
//
// Main thread: reads the command line and the configuration, opens the log, becomes a daemon
// (unless -f), builds the engine and then waits for signals — SIGTERM/SIGINT stop it, SIGHUP
// re-reads the configuration. Errors before the daemon detaches go to the terminal (exit 1);
// after, to the log (and the launching process exits 1).
//
// Start-up order: Postfix's settings (postconf) and daemon.user are checked before detaching;
// then, as root, the directories, the admin and milter sockets and the journal directory are
// prepared and handed to daemon.user; privileges are dropped; the journal is opened and recovery
// rebuilds the queues; only then does libmilter accept connections (they wait in the backlog),
// so Postfix never talks to a half-started daemon. Threads: main (signals), the scheduler thread
// (IntakeEngine), libmilter's listener and its per-connection threads, and the admin server's
// thread.
#include <fcntl.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "admin/status_board.h"
#include "config/config_parser.h"
#include "core/clock.h"
#include "core/scheduler.h"
#include "delivery/smtp_bounce_sender.h"
#include "intake/intake_engine.h"
#include "intake/intake_gate.h"
#include "intake/intake_handoff.h"
#include "intake/intake_signals.h"
#include "journal/lmdb_journal.h"
#include "milter/admin_answers.h"
#include "milter/admin_peer_names.h"
#include "milter/admin_server.h"
#include "milter/bulkqd_command_line.h"
#include "milter/configuration_reload.h"
#include "milter/daemon_startup.h"
#include "milter/daemon_user.h"
#include "milter/logging.h"
#include "milter/milter_intake.h"
#include "milter/scheduler_loop.h"
#include "postfix/postconf_query.h"
#include "postfix/postfix_spool.h"
#include "postfix/sendmail_bounce_sender.h"
#include "quota/lmdb_volume_store.h"
#include "quota/volume_counter.h"

namespace {

using bulkq::BulkqdExit;

int exit_with(BulkqdExit status) {
  return static_cast<int>(status);
}

void print_error(std::string_view message) {
  std::fprintf(stderr, "bulkqd: %.*s\n", static_cast<int>(message.size()), message.data());
}

// Returns the exit status once SIGTERM or SIGINT arrives (or the milter stops on its own).
//
// libmilter runs a signal thread of its own that also sigwait()s for SIGHUP, SIGTERM and SIGINT
// and stops the milter on any of them. Linux hands a process-directed signal to the main thread
// when it is waiting for it, so in practice this loop gets them all; should libmilter's thread
// catch one (a signal arriving while a reload runs here), the milter stops, the milter thread
// raises SIGTERM and bulkqd exits with status 1, saying so — Postfix meanwhile delivers new mail
// itself (milter_default_action = accept) and a supervisor restarts bulkqd.
int serve_signals(const sigset_t& signals, bulkq::ConfigurationReload& reload,
                  spdlog::logger& logger, const std::atomic<bool>& milter_ended) {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      (void)reload.reload();  // logs what it did
      continue;
    }
    if (milter_ended.load()) {
      logger.error("the milter stopped serving; bulkqd stops (Postfix delivers new mail itself)");
      return exit_with(BulkqdExit::failed);
    }
    logger.info("bulkqd stopping");
    return exit_with(BulkqdExit::ok);
  }
}

void log_at(spdlog::logger& logger, bulkq::LogLevel level, std::string_view text) {
  switch (level) {
    case bulkq::LogLevel::trace:
      logger.trace("{}", text);
      break;
    case bulkq::LogLevel::debug:
      logger.debug("{}", text);
      break;
    case bulkq::LogLevel::info:
      logger.info("{}", text);
      break;
    case bulkq::LogLevel::warning:
      logger.warn("{}", text);
      break;
    case bulkq::LogLevel::error:
      logger.error("{}", text);
      break;
    case bulkq::LogLevel::critical:
      logger.critical("{}", text);
      break;
  }
}

// How long the admin server waits for the scheduler thread's reply (bulkqctl waits 10 s).
constexpr std::chrono::milliseconds kAdminAnswerTimeout{5000};

// [quota] as the volume counter takes it.
bulkq::VolumeLimits volume_limits(const bulkq::QuotaConfig& quota) {
  bulkq::VolumeLimits limits;
  limits.period = quota.period;
  limits.messages = quota.messages;
  limits.recipients = quota.recipients;
  for (const bulkq::QuotaDomain& domain : quota.sender_domains)
    limits.domains[domain.domain] = bulkq::VolumeDomainLimits{domain.messages, domain.recipients};
  return limits;
}

std::string parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string("/") : parent.string();
}

// What `bulkqctl release` needs to move held files as postsuper -H does and wake qmgr:
// hash_queue_names, and hash_queue_depth and queue_service_name from one more postconf run. A
// failure is logged and leaves the defaults (depth 1, "qmgr").
void query_release_settings(const bulkq::Config& config, const bulkq::PostconfResult& postconf,
                            bulkq::PostfixReleaseSettings& release, spdlog::logger& logger) {
  release.hash_queue_names = postconf.settings.hash_queue_names;
  const bulkq::ProgramRun run =
      bulkq::run_program({config.postfix.postconf, "-c", config.postfix.config_directory, "-h",
                          "hash_queue_depth", "queue_service_name"},
                         std::chrono::seconds(30));
  const std::string& out = run.stdout_text;
  const std::size_t first = out.find('\n');
  const std::size_t second = first == std::string::npos ? first : out.find('\n', first + 1);
  int depth = 0;
  const std::string service =
      second == std::string::npos ? std::string() : out.substr(first + 1, second - first - 1);
  const bool service_ok =
      !service.empty() && std::all_of(service.begin(), service.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (!run.exited_zero() || second == std::string::npos || !service_ok ||
      std::from_chars(out.data(), out.data() + first, depth).ec != std::errc{} || depth < 1) {
    logger.warn(
        "postconf: cannot read hash_queue_depth and queue_service_name ({}); release "
        "assumes 1 and qmgr",
        run.error.empty() ? out : run.error);
    return;
  }
  release.hash_queue_depth = depth;
  release.queue_service = service;
}

// What the Postfix side must look like for bulkq to work: a flat hold queue, and bulkqd running
// as Postfix's mail_owner. Fills queue_directory (and what release needs). Empty on success.
std::string check_postfix(const bulkq::Config& config, std::string& queue_directory,
                          bulkq::PostfixReleaseSettings& release, spdlog::logger& logger) {
  const bulkq::PostconfResult postconf =
      bulkq::query_postconf(config.postfix.postconf, config.postfix.config_directory);
  if (!postconf.ok()) return "postfix: " + postconf.error;
  if (!postconf.warnings.empty()) logger.warn("postconf: {}", postconf.warnings);
  if (std::string hashed = bulkq::check_hold_not_hashed(postconf.settings.hash_queue_names);
      !hashed.empty()) {
    return "postfix: " + hashed;
  }
  if (postconf.settings.mail_owner != config.daemon.user) {
    return "daemon.user is \"" + config.daemon.user + "\" but Postfix's mail_owner is \"" +
           postconf.settings.mail_owner +
           "\": only the mail_owner can read and remove held messages";
  }
  queue_directory = config.postfix.queue_directory.empty() ? postconf.settings.queue_directory
                                                           : config.postfix.queue_directory;
  query_release_settings(config, postconf, release, logger);
  return {};
}

// The accounting log: opened (and given to daemon.user) while bulkqd is still root, so its
// directory may be root's; written by the scheduler thread only, one write(2) per session.
class AccountingFile {
 public:
  AccountingFile() = default;
  AccountingFile(const AccountingFile&) = delete;
  AccountingFile& operator=(const AccountingFile&) = delete;
  ~AccountingFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string open(const std::string& path, const bulkq::DaemonUser& user) {
    fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd_ < 0) return "cannot open the accounting log " + path + ": " + std::strerror(errno);
    if (::geteuid() == 0 && ::fchown(fd_, user.uid, user.gid) != 0) {
      return "cannot give the accounting log " + path + " to " + user.name + ": " +
             std::strerror(errno);
    }
    // A line cut short by a crash (a full disk) is ended, so the next record starts a line.
    const off_t size = ::lseek(fd_, 0, SEEK_END);
    char last = '\n';
    if (size > 0 && ::pread(fd_, &last, 1, size - 1) == 1 && last != '\n') {
      [[maybe_unused]] const ssize_t ignored = ::write(fd_, "\n", 1);
    }
    return {};
  }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Postfix's myhostname: our EHLO name and the DSNs' reporting host when delivery.helo_name is
// not set; the system's host name if postconf cannot say.
std::string postfix_hostname(const bulkq::Config& config) {
  const bulkq::ProgramRun run = bulkq::run_program(
      {config.postfix.postconf, "-c", config.postfix.config_directory, "-h", "myhostname"},
      std::chrono::seconds(30));
  std::string name = run.exited_zero() ? run.stdout_text : std::string();
  while (!name.empty() && (name.back() == '\n' || name.back() == ' '))
    name.pop_back();
  if (name.empty() || name.find_first_of(" \t\n") != std::string::npos) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) name = host;
  }
  return name.empty() ? std::string("localhost") : name;
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
  spdlog::set_default_logger(log.logger);

  // Blocked before any fork or thread, so every thread inherits the mask and these signals
  // arrive only through sigwait() below.
  sigset_t signals_to_wait;
  sigemptyset(&signals_to_wait);
  sigaddset(&signals_to_wait, SIGTERM);
  sigaddset(&signals_to_wait, SIGINT);
  sigaddset(&signals_to_wait, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_to_wait, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket is an error to handle, not a death

  // SIGHUP re-reads the file after the daemon has moved to "/": a relative -c must still name it.
  std::error_code cwd_error;
  const std::string config_path =
      std::filesystem::absolute(options.config_path, cwd_error).lexically_normal().string();

  std::string queue_directory;
  bulkq::PostfixReleaseSettings release_settings;
  if (std::string error = check_postfix(config, queue_directory, release_settings, *log.logger);
      !error.empty()) {
    print_error(error);
    return exit_with(BulkqdExit::failed);
  }
  const bulkq::DaemonUserResult user = bulkq::look_up_daemon_user(config.daemon.user);
  if (!user.ok()) {
    print_error(user.error);
    return exit_with(BulkqdExit::failed);
  }

  std::optional<bulkq::DaemonStartup> startup;
  if (!options.foreground) {
    startup.emplace(bulkq::DaemonStartup::detach());
    if (!startup->ok()) {
      print_error(startup->error());
      return exit_with(BulkqdExit::failed);
    }
  }

  // From here on lines are queued, never written, by the thread that logs them (logging.h);
  // the guard writes what is queued on every way out of main.
  const std::shared_ptr<spdlog::logger> daemon_logger = bulkq::make_async_logger(log.logger);
  spdlog::set_default_logger(daemon_logger);
  struct WriteQueuedLines {
    ~WriteQueuedLines() { spdlog::shutdown(); }
  } write_queued_lines;
  spdlog::logger& logger = *daemon_logger;

  bool started = false;
  try {
    const bulkq::SystemClock clock;
    const auto fail = [&logger](std::string_view what) {
      logger.critical("cannot start: {}", what);
      return exit_with(BulkqdExit::failed);
    };

    // Everything that needs root, while bulkqd still is.
    const std::string milter_path = config.milter.socket.substr(config.milter.socket.find(':') + 1);
    for (const std::string& directory :
         {parent_directory(milter_path), parent_directory(config.admin.socket),
          parent_directory(config.journal.directory)}) {
      if (std::string error = bulkq::prepare_directory(directory, 0755, user.user, false);
          !error.empty())
        return fail(error);
    }
    if (std::string error =
            bulkq::prepare_directory(config.journal.directory, 0700, user.user, true);
        !error.empty())
      return fail(error);
    if (std::string error = bulkq::give_to(config.journal.directory, user.user); !error.empty())
      return fail(error);
    for (const std::string& directory : {parent_directory(config.quota.directory)}) {
      if (std::string error = bulkq::prepare_directory(directory, 0755, user.user, false);
          !error.empty())
        return fail(error);
    }
    if (std::string error = bulkq::prepare_directory(config.quota.directory, 0700, user.user, true);
        !error.empty())
      return fail(error);
    if (std::string error = bulkq::give_to(config.quota.directory, user.user); !error.empty())
      return fail(error);
    if (config.delivery.enabled && config.delivery.mode == bulkq::DeliveryMode::direct) {
      for (const std::string& directory : {parent_directory(config.dns.cache_directory)}) {
        if (std::string error = bulkq::prepare_directory(directory, 0755, user.user, false);
            !error.empty())
          return fail(error);
      }
      if (std::string error =
              bulkq::prepare_directory(config.dns.cache_directory, 0700, user.user, true);
          !error.empty())
        return fail(error);
      if (std::string error = bulkq::give_to(config.dns.cache_directory, user.user); !error.empty())
        return fail(error);
    }
    AccountingFile accounting;
    if (!config.delivery.accounting_log.empty()) {
      if (std::string error = accounting.open(config.delivery.accounting_log, user.user);
          !error.empty())
        return fail(error);
    }
    const std::string helo_name =
        config.delivery.helo_name.empty() ? postfix_hostname(config) : config.delivery.helo_name;
    if (config.log.target == bulkq::LogTarget::file && !options.foreground) {
      if (std::string error = bulkq::give_to(config.log.file, user.user); !error.empty())
        logger.warn("{}", error);
    }

    bulkq::IntakeSignals signals;
    bulkq::IntakeHandoff handoff(config.handoff_capacity);
    bulkq::Scheduler scheduler(clock, config.scheduler);
    bulkq::StatusBoard board;

    // Set once the scheduler thread runs; the admin server asks it for all but `status`.
    std::atomic<bulkq::SchedulerLoop*> admin_loop{nullptr};
    // SIGHUP and `bulkqctl reload`.
    bulkq::ConfigurationReloadHooks reload_hooks;
    reload_hooks.apply_delivery =
        [&admin_loop](const bulkq::Config& next) -> std::optional<std::string> {
      bulkq::SchedulerLoop* loop = admin_loop.load();
      if (loop == nullptr) return std::string("bulkqd is starting or stopping");
      return loop->reconfigure(next, kAdminAnswerTimeout);
    };
    reload_hooks.apply_log_level = [&logger](bulkq::LogLevel level) {
      bulkq::set_log_level(logger, level);
    };
    reload_hooks.log = [&logger](bulkq::LogLevel level, std::string_view text) {
      // A multi-line configuration error becomes one log line per line.
      while (!text.empty()) {
        const std::size_t end = std::min(text.find('\n'), text.size());
        log_at(logger, level, text.substr(0, end));
        text.remove_prefix(std::min(end + 1, text.size()));
      }
    };
    bulkq::ConfigurationReload reload(cwd_error ? options.config_path : config_path, config,
                                      std::move(reload_hooks));
    const bulkq::AdminAccessResult access =
        bulkq::resolve_admin_access(config.admin, config.daemon);
    if (!access.ok()) return fail(access.error);
    bulkq::AdminServerOpenResult admin = bulkq::AdminServer::open(
        config.admin.socket, bulkq::kAdminSocketMode, access.access.socket_owner,
        access.access.socket_group, access.access.policy,
        [&board, &admin_loop, &reload](const bulkq::AdminRequest& request) {
          bulkq::SchedulerLoop* loop = admin_loop.load();
          const bulkq::AskScheduler ask =
              loop == nullptr ? bulkq::AskScheduler() : [loop](const bulkq::AdminRequest& r) {
                return loop->answer(r, kAdminAnswerTimeout);
              };
          return bulkq::answer_admin_request(request, board, ask,
                                             [&reload] { return reload.reload(); });
        },
        [&logger](std::string_view line) { logger.warn("admin: {}", line); });
    if (!admin.ok()) return fail(admin.error);

    // The milter socket is created now, as root, in a directory daemon.user may not write, and
    // given to daemon.user so Postfix (its mail_owner) can connect. Postfix's connections wait
    // in the listen backlog until recovery is done and smfi_main accepts them.
    const auto engine_log = [&logger](bulkq::LogLevel level, std::string_view text) {
      log_at(logger, level, text);
    };
    bulkq::IntakeGate gate(bulkq::MtaKind::postfix, config.bulk, handoff, signals, 1);
    bulkq::MilterIntake milter(gate, signals, clock, engine_log);
    if (std::string error = milter.open(config.milter.socket, user.user.uid, user.user.gid);
        !error.empty())
      return fail(error);

    if (std::string error = bulkq::drop_to(user.user); !error.empty()) return fail(error);

    // The volume counter: counts restored before the first message is counted.
    bulkq::LmdbVolumeStoreOptions volume_options;
    volume_options.directory = config.quota.directory;
    bulkq::LmdbVolumeStoreOpenResult volume_store = bulkq::LmdbVolumeStore::open(volume_options);
    if (!volume_store.ok()) return fail(volume_store.error);
    bulkq::VolumeCounter volume(volume_limits(config.quota), volume_store.store.get());
    if (std::string error = volume.restore(std::chrono::system_clock::now()); !error.empty())
      logger.warn("volume counter: {}", error);
    gate.count_volume(&volume, config.quota.action);
    milter.set_quota_reply(config.quota.reply);

    bulkq::LmdbJournalOptions journal_options;
    journal_options.directory = config.journal.directory;
    journal_options.map_size = static_cast<std::size_t>(config.journal.map_size_mib) << 20;
    journal_options.sync_interval = bulkq::Duration(config.journal.sync_interval_ms);
    bulkq::LmdbJournalOpenResult journal = bulkq::LmdbJournal::open(journal_options);
    if (!journal.ok()) return fail(journal.error);

    bulkq::PostfixSpool spool(queue_directory, release_settings);
    bulkq::IntakeEngineOptions engine_options;
    engine_options.kind = bulkq::MtaKind::postfix;
    engine_options.commit_timeout = std::chrono::seconds(config.intake.commit_timeout_seconds);
    engine_options.memory_limit_bytes = config.intake.memory_limit_mib << 20;
    engine_options.version = BULKQD_VERSION;
    // Group commit: the records of messages arriving within 20 ms share one fsync.
    engine_options.journal_group_window = std::chrono::milliseconds(20);
    bulkq::IntakeEngine engine(clock, scheduler, handoff, *journal.journal, spool, signals,
                               engine_options, engine_log);
    const bulkq::RecoveryReport recovery = engine.recover();
    if (!recovery.journal_ok) return fail("journal: " + recovery.journal_error);
    board.publish(engine.status());

    gate.start_ids_at(recovery.next_id);

    if (std::string error = admin.server->start(); !error.empty()) return fail(error);

    // The scheduler thread: intake rounds, delivery, DNS, status for the admin server.
    bulkq::SendmailBounceSender sendmail_bounces(config.delivery.sendmail,
                                                 config.postfix.config_directory);
    bulkq::SmtpBounceSender smtp_bounces(
        bulkq::SmtpEndpoint{config.delivery.dsn_relay_host, config.delivery.dsn_relay_port},
        helo_name);
    bulkq::BounceSender& bounces = config.delivery.dsn_relay_host.empty()
                                       ? static_cast<bulkq::BounceSender&>(sendmail_bounces)
                                       : smtp_bounces;
    bulkq::SchedulerLoopParts loop_parts;
    loop_parts.config = &config;
    loop_parts.clock = &clock;
    loop_parts.scheduler = &scheduler;
    loop_parts.intake = &engine;
    loop_parts.journal = journal.journal.get();
    loop_parts.spool = &spool;
    loop_parts.bounces = &bounces;
    loop_parts.board = &board;
    loop_parts.log = engine_log;
    loop_parts.accounting_fd = accounting.fd();
    loop_parts.helo_name = helo_name;
    loop_parts.volume = &volume;
    std::string loop_error;
    std::unique_ptr<bulkq::SchedulerLoop> loop =
        bulkq::SchedulerLoop::create(std::move(loop_parts), loop_error);
    if (!loop) return fail(loop_error);
    std::thread engine_thread([&loop] { loop->run(); });
    admin_loop.store(loop.get());

    std::atomic<bool> milter_ended{false};
    std::atomic<bool> stopping{false};
    std::thread milter_thread([&] {
      const int status = milter.run();
      if (!stopping.load()) {
        logger.error("libmilter stopped serving (status {})", status);
        milter_ended.store(true);
        ::kill(::getpid(), SIGTERM);  // wakes the main thread's sigwait
      }
    });

    logger.info(
        "bulkqd {} started as {}: milter {}, admin {}, hold queue {}/hold, journal {}; "
        "policy={} handoff_capacity={}",
        BULKQD_VERSION, user.user.name, config.milter.socket, config.admin.socket, queue_directory,
        config.journal.directory, bulkq::to_string(config.scheduler.policy), handoff.capacity());
    if (startup) startup->report_started();
    started = true;
    const int status = serve_signals(signals_to_wait, reload, logger, milter_ended);

    // New bulk mail fails open from here; the milter stops; the engine commits what it took.
    signals.stopping.store(true);
    stopping.store(true);
    milter.stop();
    milter_thread.join();
    loop->stop();
    engine_thread.join();
    admin.server->stop();
    admin_loop.store(nullptr);
    logger.info("bulkqd stopped: {} message(s), {} recipient(s) queued, {} pending commit",
                engine.status().messages, engine.status().recipients, engine.pending_count());
    return status;
  } catch (const std::exception& e) {
    logger.critical(
        "{}: {}", started ? "bulkqd stopping after an unexpected error" : "cannot start", e.what());
    return exit_with(BulkqdExit::failed);
  }
}
