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
#include "quota/volume_period.h"

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
  // The HTTP listener for Prometheus (GET /metrics): an address literal and port
  // ("127.0.0.1:9725", "[::1]:9725"); empty host = off (the default).
  std::string metrics_host;
  std::uint16_t metrics_port = 0;

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

enum class DeliveryMode : std::uint8_t { direct, relay };
// How a session uses STARTTLS (the same words as delivery/smtp_session.h's TlsPolicy, which the
// config does not include so that reading a Config needs no delivery header).
enum class TlsSetting : std::uint8_t { opportunistic, required, off };

[[nodiscard]] constexpr std::string_view to_string(DeliveryMode mode) {
  return mode == DeliveryMode::direct ? "direct" : "relay";
}
[[nodiscard]] constexpr std::string_view to_string(TlsSetting tls) {
  switch (tls) {
    case TlsSetting::opportunistic:
      return "opportunistic";
    case TlsSetting::required:
      return "required";
    case TlsSetting::off:
      return "off";
  }
  return "unknown";
}

// Per-phase SMTP client timeouts in seconds (RFC 5321 §4.5.3.2 and Postfix's defaults).
struct DeliveryTimeouts {
  std::uint32_t connect = 30;
  std::uint32_t greeting = 300;
  std::uint32_t ehlo = 300;
  std::uint32_t starttls = 300;
  std::uint32_t mail = 300;
  std::uint32_t rcpt = 300;
  std::uint32_t data_init = 120;
  std::uint32_t data_block = 180;
  std::uint32_t data_end = 600;
  std::uint32_t rset = 20;
  std::uint32_t quit = 300;
  friend bool operator==(const DeliveryTimeouts&, const DeliveryTimeouts&) = default;
};

struct DomainTls {
  std::string domain;  // canonical destination domain
  TlsSetting tls = TlsSetting::opportunistic;
  friend bool operator==(const DomainTls&, const DomainTls&) = default;
};

struct DeliveryConfig {
  // false: bulkqd diverts and holds bulk mail but sends nothing (a staged roll-out, or tests of
  // the intake alone); held mail waits until it is started with delivery on.
  bool enabled = true;
  DeliveryMode mode = DeliveryMode::direct;
  // mode = relay: every domain's batches go to this host ("host:port", "[address]:port").
  std::string relay_host;
  std::uint16_t relay_port = 25;
  std::uint16_t port = 25;             // mode = direct: the destination port at each MX host
  std::string helo_name;               // our EHLO name; empty: Postfix's myhostname
  std::uint32_t max_connections = 32;  // SMTP sessions open at once, in all
  std::uint32_t max_connections_per_domain = 8;  // sessions open at once to one domain
  std::uint32_t max_messages_per_connection = 1000;
  // Seconds a connection stays open, idle, for its domain's next batch (0: closed after each
  // batch), and the age after which it takes no further batch.
  std::uint32_t connection_idle_time = 10;
  std::uint32_t connection_reuse_time = 300;
  std::uint32_t max_idle_connections = 256;  // idle ones kept at once, beyond max_connections
  TlsSetting tls = TlsSetting::opportunistic;
  std::vector<DomainTls> tls_policy;  // per-domain exceptions ([delivery.tls_policy])
  // Retry schedule, seconds: recipient backoff after a 4xx (doubling from min up to max), domain
  // backoff after a 421 or a failed connection, and the lifetime after which mail bounces.
  std::uint32_t retry_min = 300;
  std::uint32_t retry_max = 14400;
  std::uint32_t domain_backoff_min = 60;
  std::uint32_t domain_backoff_max = 3600;
  std::uint32_t max_queue_lifetime = 432000;
  DeliveryTimeouts timeouts;
  // DSNs (bounces) are handed to the MTA through this program: Postfix's sendmail(1), run as
  // `sendmail [-C postfix.config_directory] -f "" -i -- SENDER` with the DSN on its stdin (-C
  // only when the directory is not /etc/postfix).
  std::string sendmail = "/usr/sbin/sendmail";
  // When set ("host:port"), DSNs go over SMTP to this listener of the MTA instead of sendmail(1)
  // (Postfix refuses `sendmail -C` for a second instance unless run by root).
  std::string dsn_relay_host;
  std::uint16_t dsn_relay_port = 25;
  // One JSON line per recipient outcome; empty: no accounting log.
  std::string accounting_log;
  friend bool operator==(const DeliveryConfig&, const DeliveryConfig&) = default;
};

struct DnsConfig {
  // "host[:port]" entries, IPv6 as "[address]:port"; empty: the system's (/etc/resolv.conf).
  std::vector<std::string> servers;
  std::uint32_t timeout_ms = 2000;  // the first try's timeout, doubled on each round
  std::uint32_t tries = 2;          // rounds over the servers
  bool ipv6 = true;                 // also look up AAAA records of MX hosts
  // The offline cache's LMDB environment: answers survive a restart.
  std::string cache_directory = "/var/lib/bulkq/dns";
  std::uint64_t cache_map_size_mib = 64;
  // Seconds. TTLs are clamped to [min_ttl, max_ttl] (negative answers to [negative_min_ttl,
  // negative_max_ttl]); a temporary failure is remembered for failure_ttl; a record whose
  // refresh fails is still served for serve_stale after it expired; records in use are
  // re-resolved refresh_ahead seconds before they expire.
  std::uint32_t min_ttl = 60;
  std::uint32_t max_ttl = 86400;
  std::uint32_t negative_min_ttl = 30;
  std::uint32_t negative_max_ttl = 3600;
  std::uint32_t failure_ttl = 30;
  std::uint32_t serve_stale = 3600;
  std::uint32_t refresh_ahead = 300;
  std::uint32_t prefetch_queues = 16;  // queues next in policy order whose DNS is fetched ahead
  friend bool operator==(const DnsConfig&, const DnsConfig&) = default;
};

// What bulkqd does with bulk mail past a volume limit.
enum class QuotaAction : std::uint8_t {
  fail_open,  // stop diverting: the MTA delivers it itself
  tempfail,   // refuse it for now (451 4.7.1 and `reply`): the client tries again later
};

[[nodiscard]] constexpr std::string_view to_string(QuotaAction action) {
  return action == QuotaAction::fail_open ? "fail_open" : "tempfail";
}

struct QuotaDomain {
  std::string domain;  // a sender domain, canonical
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  friend bool operator==(const QuotaDomain&, const QuotaDomain&) = default;
};

// The volume counter ([quota]): bulk messages and recipients taken per period (UTC), globally and
// per sender domain, against licensed or quota figures; 0 = no limit. Counted always.
struct QuotaConfig {
  VolumePeriod period = VolumePeriod::day;
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::vector<QuotaDomain> sender_domains;  // [quota.sender_domains]
  QuotaAction action = QuotaAction::fail_open;
  // The text after "451 4.7.1 " when action = tempfail.
  std::string reply = "bulk mail volume quota reached, try again later";
  std::string directory = "/var/lib/bulkq/volume";  // the counts' LMDB environment (mode 0700)
  friend bool operator==(const QuotaConfig&, const QuotaConfig&) = default;
};

// What a response rule does ([[shaping.rules]]; shaping/response_rules.h).
enum class ShapingRuleAction : std::uint8_t { suspend, scale_rate, bounce };

[[nodiscard]] constexpr std::string_view to_string(ShapingRuleAction action) {
  switch (action) {
    case ShapingRuleAction::suspend:
      return "suspend";
    case ShapingRuleAction::scale_rate:
      return "scale_rate";
    case ShapingRuleAction::bounce:
      return "bounce";
  }
  return "unknown";
}

// One response rule: a pattern on a destination's reply ("CODE ENHANCED TEXT") and its action.
struct ShapingRuleSetting {
  std::string pattern;
  bool regex = false;  // false: a case-insensitive substring
  ShapingRuleAction action = ShapingRuleAction::suspend;
  std::uint32_t suspend = 0;  // seconds (action = suspend)
  double rate_factor = 0;     // 0 < f < 1 (action = scale_rate)
  friend bool operator==(const ShapingRuleSetting&, const ShapingRuleSetting&) = default;
};

// Limits for the destinations of one domain or domain pattern ([shaping.domain."PATTERN"]):
// "example.com" (that domain) or "*.example.com" (its subdomains). An unset key takes the general
// value ([shaping], [delivery]).
struct DestinationSetting {
  std::string pattern;
  std::optional<std::uint32_t> max_connections;
  std::optional<std::uint32_t> max_messages_per_connection;
  std::optional<double> max_rate;  // messages per second; 0 = no limit
  std::optional<TlsSetting> tls;
  std::optional<bool> adaptive;
  std::optional<std::uint32_t> retry_min;
  std::optional<std::uint32_t> retry_max;
  std::optional<std::uint32_t> domain_backoff_min;
  std::optional<std::uint32_t> domain_backoff_max;
  friend bool operator==(const DestinationSetting&, const DestinationSetting&) = default;
};

// Per-destination shaping ([shaping]). A destination is what one connection budget covers: a
// domain, or with mx_rollup every domain (matched by the same [shaping.domain] entry) whose MX
// hosts are the same.
struct ShapingConfig {
  bool adaptive = true;  // learn each destination's speed; false: the static limits only
  bool mx_rollup = true;
  std::uint32_t initial_connections = 2;    // where a destination starts (adaptive)
  double max_rate = 0;                      // messages per second per destination; 0 = no limit
  double initial_rate = 10;                 // the first rate a destination gets when it pushes back
  double min_rate = 0.1;                    // the floor the controller never undercuts
  bool default_rules = true;                // the built-in rules, after the file's own
  std::vector<ShapingRuleSetting> rules;    // [[shaping.rules]], in file order
  std::vector<DestinationSetting> domains;  // [shaping.domain."…"], sorted by pattern
  friend bool operator==(const ShapingConfig&, const ShapingConfig&) = default;
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
  DeliveryConfig delivery;
  DnsConfig dns;
  QuotaConfig quota;
  ShapingConfig shaping;
};

}  // namespace bulkq
