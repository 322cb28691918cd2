// Config: everything bulkq.toml can set, with the defaults an empty file gets.
//
// A plain value: built once by parse_config/load_config_file (config_parser.h) on whichever thread
// loads the file, then copied to the parts that need it. Every key is spelled once, in
// config_parser.cpp, and shown with its default in conf-examples/bulkq.toml. The engine's own
// enums are used here rather than spdlog's, so nothing that reads a Config depends on spdlog.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/scheduler_limits.h"
#include "intake/bulk_rules.h"

namespace bulkq {

// Where both bulkqd and bulkqctl look when no -c is given.
inline constexpr std::string_view kDefaultConfigPath = "/etc/bulkq/bulkq.toml";

// sun_path holds 108 bytes including the terminating NUL.
inline constexpr std::size_t kMaxUnixSocketPathLength = 107;

// Not `stderr`: that name is a macro in <cstdio>, free to expand to anything.
enum class LogTarget : std::uint8_t { syslog, file, stderr_stream };

enum class LogLevel : std::uint8_t { trace, debug, info, warning, error, critical };

[[nodiscard]] constexpr std::string_view to_string(LogTarget target) {
  switch (target) {
    case LogTarget::syslog:
      return "syslog";
    case LogTarget::file:
      return "file";
    case LogTarget::stderr_stream:
      return "stderr";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
    case LogLevel::critical:
      return "critical";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::optional<LogTarget> parse_log_target(std::string_view name) {
  for (LogTarget t : {LogTarget::syslog, LogTarget::file, LogTarget::stderr_stream}) {
    if (name == to_string(t)) return t;
  }
  return std::nullopt;
}

[[nodiscard]] constexpr std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (LogLevel l : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warning,
                     LogLevel::error, LogLevel::critical}) {
    if (name == to_string(l)) return l;
  }
  return std::nullopt;
}

struct LogConfig {
  LogTarget target = LogTarget::syslog;
  std::string file = "/var/log/bulkq/bulkq.log";  // used when target is file
  LogLevel level = LogLevel::info;                // the least severe level written

  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

struct AdminConfig {
  std::string socket = "/run/bulkq/admin.sock";  // where bulkqd listens and bulkqctl connects
  // Peers allowed on the admin socket besides root and daemon.user (SO_PEERCRED): user names and
  // group names (a peer whose primary or supplementary group is listed). The socket itself is
  // mode 0660, owned by daemon.user and, when set, `socket_group`.
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::string socket_group;

  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

struct DaemonConfig {
  // Started as root, bulkqd becomes this user (and its groups) once its sockets, journal and log
  // are open: Postfix's hold files are readable and removable by its mail_owner only.
  std::string user = "postfix";

  friend bool operator==(const DaemonConfig&, const DaemonConfig&) = default;
};

struct MilterConfig {
  // libmilter's socket, "unix:/path" (or "local:/path"). Not inet: libmilter sends the
  // quarantine request as its own packet, and over TCP each held message waits ~42 ms for a
  // delayed ACK (shared/MTA-FACTS.md §1).
  std::string socket = "unix:/run/bulkq/milter.sock";

  friend bool operator==(const MilterConfig&, const MilterConfig&) = default;
};

struct IntakeConfig {
  // Estimated engine memory (message records + data nodes) above which new bulk mail fails
  // open to the MTA, in MiB.
  std::uint64_t memory_limit_mib = 1024;
  // How long a diverted message may wait for the MTA to commit its held file; after that it is
  // forgotten (the client aborted, or a later milter rejected it), in seconds.
  std::uint32_t commit_timeout_seconds = 300;

  friend bool operator==(const IntakeConfig&, const IntakeConfig&) = default;
};

struct PostfixConfig {
  // Passed to postconf -c at start-up to learn queue_directory and hash_queue_names.
  std::string config_directory = "/etc/postfix";
  // Overrides postconf's queue_directory when set (e.g. for a Postfix instance elsewhere).
  std::string queue_directory;
  std::string postconf = "/usr/sbin/postconf";

  friend bool operator==(const PostfixConfig&, const PostfixConfig&) = default;
};

struct JournalConfig {
  std::string directory = "/var/lib/bulkq/journal";  // the LMDB environment (mode 0700)
  std::uint64_t map_size_mib = 1024;                 // the most the journal may grow to
  // 0: every batch durable on commit. > 0: MDB_NOSYNC, flushed at this interval (milliseconds);
  // an OS crash (not a bulkqd crash) may then re-deliver what was finished in that window.
  std::uint32_t sync_interval_ms = 0;

  friend bool operator==(const JournalConfig&, const JournalConfig&) = default;
};

struct Config {
  LogConfig log;
  SchedulerLimits scheduler;
  // Messages that may wait between the milter threads and the scheduler thread
  // (scheduler.handoff_capacity in the file; see IntakeHandoff).
  std::size_t handoff_capacity = 16384;
  AdminConfig admin;
  BulkRules bulk;  // which messages the milter diverts ([bulk] in the file)
  DaemonConfig daemon;
  MilterConfig milter;
  IntakeConfig intake;
  PostfixConfig postfix;
  JournalConfig journal;
};

}  // namespace bulkq
