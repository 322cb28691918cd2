// toml11 lives in this one translation unit: it is slow to compile, and nothing else needs it.
#include "config/config_parser.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include <toml.hpp>

#include "config/host_port.h"
#include "core/domain_name.h"
#include "core/quoted_text.h"
#include "core/utf8.h"
#include "intake/client_network.h"
#include "intake/intake_handoff.h"
#include "shaping/response_rules.h"
#include "shaping/shaping_settings.h"

namespace bulkq {
namespace {

constexpr std::int64_t kMaxBatchRecipients = 100000;
constexpr std::size_t kMaxPathLength = 4095;  // PATH_MAX less the terminating NUL
// Nothing in bulkq.toml nests; the bound keeps the recursive TOML parser's stack small on a
// hostile or corrupted file ("a = [[[[…").
constexpr std::size_t kMaxNestingDepth = 32;

struct ConfigError {
  std::uint_least32_t line = 0;  // 0: the whole file
  std::string text;              // "KEY: what", or what is wrong with the whole file
};

using Errors = std::vector<ConfigError>;

void report(Errors& errors, const toml::value& at, const std::string& key, std::string what) {
  errors.push_back({at.location().line(), key + ": " + what});
}

std::string type_name(const toml::value& value) {
  switch (value.type()) {
    case toml::value_t::empty:
      return "nothing";
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a floating-point number";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date or time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
  }
  return "an unknown type";
}

// A value or key as it appears in a message: quoted, control bytes escaped and long text cut, so
// an error line stays one readable line.
std::string in_quotes(std::string_view text) {
  return quoted_text(text, 80, NonAscii::keep);
}

// One component of a dotted key for a message: bare when TOML allows it, quoted otherwise.
std::string key_part(std::string_view name) {
  const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return bare ? std::string(name) : in_quotes(name);
}

std::optional<std::string> string_value(const toml::value& value, const std::string& key,
                                        Errors& errors) {
  if (!value.is_string()) {
    report(errors, value, key, "expected a string, got " + type_name(value));
    return std::nullopt;
  }
  return value.as_string().str;
}

std::optional<std::int64_t> integer_value(const toml::value& value, const std::string& key,
                                          std::int64_t min, std::int64_t max, Errors& errors) {
  if (!value.is_integer()) {
    report(errors, value, key, "expected an integer, got " + type_name(value));
    return std::nullopt;
  }
  const std::int64_t number = value.as_integer();
  if (number < min || number > max) {
    report(errors, value, key,
           std::to_string(number) + " is out of range (expected " + std::to_string(min) + " to " +
               std::to_string(max) + ")");
    return std::nullopt;
  }
  return number;
}

std::optional<bool> boolean_value(const toml::value& value, const std::string& key,
                                  Errors& errors) {
  if (!value.is_boolean()) {
    report(errors, value, key, "expected a boolean, got " + type_name(value));
    return std::nullopt;
  }
  return value.as_boolean();
}

// An array of strings, each element kept with its own location so an error names its line.
std::optional<std::vector<const toml::value*>> string_array_value(const toml::value& value,
                                                                  const std::string& key,
                                                                  Errors& errors) {
  if (!value.is_array()) {
    report(errors, value, key, "expected an array of strings, got " + type_name(value));
    return std::nullopt;
  }
  std::vector<const toml::value*> elements;
  bool all_strings = true;
  for (const toml::value& element : value.as_array()) {
    if (!element.is_string()) {
      report(errors, element, key, "expected an array of strings, found " + type_name(element));
      all_strings = false;
      continue;
    }
    elements.push_back(&element);
  }
  if (!all_strings) return std::nullopt;
  return elements;
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Words compared with what a message carries (header values, SASL logins): never empty, never
// holding a control character, which no header value or login could match.
std::optional<std::vector<std::string>> word_list_value(const toml::value& value,
                                                        const std::string& key, Errors& errors) {
  const auto elements = string_array_value(value, key, errors);
  if (!elements) return std::nullopt;
  std::vector<std::string> words;
  bool all_valid = true;
  for (const toml::value* element : *elements) {
    const std::string& word = element->as_string().str;
    if (word.find_first_not_of(" \t") == std::string::npos) {
      report(errors, *element, key, "empty entry");
      all_valid = false;
    } else if (has_control_character(word)) {
      report(errors, *element, key, in_quotes(word) + " contains a control character");
      all_valid = false;
    } else {
      words.push_back(word);
    }
  }
  if (!all_valid) return std::nullopt;
  return words;
}

// Absolute, because bulkqd changes its directory to "/" when it becomes a daemon.
std::optional<std::string> absolute_path_value(const toml::value& value, const std::string& key,
                                               std::size_t max_length, std::string_view limit_why,
                                               Errors& errors) {
  std::optional<std::string> path = string_value(value, key, errors);
  if (!path) return std::nullopt;
  if (path->empty()) {
    report(errors, value, key, "empty path");
    return std::nullopt;
  }
  if (std::any_of(path->begin(), path->end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    report(errors, value, key, in_quotes(*path) + " contains a control character");
    return std::nullopt;
  }
  if (path->front() != '/') {
    report(errors, value, key, in_quotes(*path) + " is not an absolute path");
    return std::nullopt;
  }
  if (path->size() > max_length) {
    report(errors, value, key,
           "path is " + std::to_string(path->size()) + " bytes long (" + std::string(limit_why) +
               " holds at most " + std::to_string(max_length) + ")");
    return std::nullopt;
  }
  return path;
}

void apply_log_target(const toml::value& value, const std::string& key, Config& config,
                      Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (const std::optional<LogTarget> target = parse_log_target(*name)) {
    config.log.target = *target;
  } else {
    report(errors, value, key,
           "unknown log target " + in_quotes(*name) + " (expected syslog, file or stderr)");
  }
}

void apply_log_file(const toml::value& value, const std::string& key, Config& config,
                    Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a file path", errors)) {
    config.log.file = std::move(*path);
  }
}

void apply_log_level(const toml::value& value, const std::string& key, Config& config,
                     Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (const std::optional<LogLevel> level = parse_log_level(*name)) {
    config.log.level = *level;
  } else {
    report(errors, value, key,
           "unknown log level " + in_quotes(*name) +
               " (expected trace, debug, info, warning, error or critical)");
  }
}

void apply_scheduler_policy(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (const std::optional<SelectionPolicy> policy = parse_selection_policy(*name)) {
    config.scheduler.policy = *policy;
  } else {
    report(errors, value, key,
           "unknown policy " + in_quotes(*name) + " (expected fair, largest or oldest)");
  }
}

void apply_batch_max_recipients(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  if (auto number = integer_value(value, key, 1, kMaxBatchRecipients, errors)) {
    config.scheduler.batch_max_recipients = static_cast<std::uint32_t>(*number);
  }
}

void apply_handoff_capacity(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto number = integer_value(value, key, 1,
                                  static_cast<std::int64_t>(IntakeHandoff::kMaxCapacity), errors)) {
    config.handoff_capacity = static_cast<std::size_t>(*number);
  }
}

void apply_admin_socket(const toml::value& value, const std::string& key, Config& config,
                        Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxUnixSocketPathLength, "a Unix socket address",
                                      errors)) {
    config.admin.socket = std::move(*path);
  }
}

void apply_bulk_precedence_values(const toml::value& value, const std::string& key, Config& config,
                                  Errors& errors) {
  if (auto words = word_list_value(value, key, errors)) {
    config.bulk.precedence_values = std::move(*words);
  }
}

// RFC 5322 §2.2: a field name is printable US-ASCII except ':'.
void apply_bulk_header_name(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  const bool field_name = std::all_of(name->begin(), name->end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f && c != ':';
  });
  if (!field_name) {
    report(
        errors, value, key,
        in_quotes(*name) + " is not a header field name (printable ASCII without spaces or ':')");
    return;
  }
  config.bulk.header_name = std::move(*name);
}

void apply_bulk_header_values(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  if (auto words = word_list_value(value, key, errors))
    config.bulk.header_values = std::move(*words);
}

void apply_bulk_list_unsubscribe(const toml::value& value, const std::string& key, Config& config,
                                 Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.bulk.list_unsubscribe = *on;
}

void apply_bulk_min_recipients(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  if (auto number = integer_value(value, key, 0, kMaxMinRecipients, errors)) {
    config.bulk.min_recipients = static_cast<std::uint32_t>(*number);
  }
}

void apply_bulk_sasl_logins(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto words = word_list_value(value, key, errors)) config.bulk.sasl_logins = std::move(*words);
}

void apply_bulk_client_networks(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  const auto elements = string_array_value(value, key, errors);
  if (!elements) return;
  std::vector<ClientNetwork> networks;
  bool all_valid = true;
  for (const toml::value* element : *elements) {
    ClientNetworkResult parsed = parse_client_network(element->as_string().str);
    if (!parsed.ok()) {
      report(errors, *element, key, parsed.error);
      all_valid = false;
      continue;
    }
    networks.push_back(std::move(parsed.network));
  }
  if (all_valid) config.bulk.client_networks = std::move(networks);
}

// "example.com" or ".example.com" (its subdomains), each kept in canonical form.
void apply_bulk_sender_domains(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  const auto elements = string_array_value(value, key, errors);
  if (!elements) return;
  std::vector<std::string> domains;
  bool all_valid = true;
  for (const toml::value* element : *elements) {
    const std::string& entry = element->as_string().str;
    const bool subdomains = !entry.empty() && entry.front() == '.';
    const std::string_view domain = std::string_view(entry).substr(subdomains ? 1 : 0);
    const DomainNameResult canonical = normalise_domain(domain);
    if (!canonical.ok()) {
      report(errors, *element, key, in_quotes(entry) + " is not a domain: " + canonical.error);
      all_valid = false;
    } else if (subdomains && canonical.canonical.front() == '[') {
      report(errors, *element, key,
             in_quotes(entry) + ": an address literal has no subdomains (drop the leading '.')");
      all_valid = false;
    } else {
      domains.push_back((subdomains ? "." : "") + canonical.canonical);
    }
  }
  if (all_valid) config.bulk.sender_domains = std::move(domains);
}

// A user or group name as getpwnam/getgrnam take it: no empty name, no space, colon or control.
std::optional<std::string> account_name_value(const toml::value& value, const std::string& key,
                                              bool allow_empty, Errors& errors) {
  std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return std::nullopt;
  if (name->empty() && allow_empty) return name;
  const bool valid =
      !name->empty() && name->size() <= 64 && std::all_of(name->begin(), name->end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f &&
               c != ':' && c != '/';
      });
  if (!valid) {
    report(errors, value, key, in_quotes(*name) + " is not a user or group name");
    return std::nullopt;
  }
  return name;
}

std::optional<std::vector<std::string>> account_name_list_value(const toml::value& value,
                                                                const std::string& key,
                                                                Errors& errors) {
  const auto elements = string_array_value(value, key, errors);
  if (!elements) return std::nullopt;
  std::vector<std::string> names;
  bool all_valid = true;
  for (const toml::value* element : *elements) {
    if (auto name = account_name_value(*element, key, false, errors)) {
      names.push_back(std::move(*name));
    } else {
      all_valid = false;
    }
  }
  if (!all_valid) return std::nullopt;
  return names;
}

void apply_admin_users(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  if (auto names = account_name_list_value(value, key, errors)) config.admin.users = *names;
}

void apply_admin_groups(const toml::value& value, const std::string& key, Config& config,
                        Errors& errors) {
  if (auto names = account_name_list_value(value, key, errors)) config.admin.groups = *names;
}

void apply_admin_socket_group(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  if (auto name = account_name_value(value, key, true, errors)) config.admin.socket_group = *name;
}

// "" (off), or "address:port" with a numeric address: a scrape endpoint should not depend on DNS,
// and naming the address keeps an exposure beyond loopback a deliberate choice.
void apply_admin_metrics_listen(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  const std::optional<std::string> text = string_value(value, key, errors);
  if (!text) return;
  if (text->empty()) {
    config.admin.metrics_host.clear();
    config.admin.metrics_port = 0;
    return;
  }
  // A port alone ("9725" or ":9725") listens on loopback: nothing is exposed by default.
  const std::string_view port_only = std::string_view(*text).substr(text->front() == ':' ? 1 : 0);
  const bool bare_port =
      !port_only.empty() && port_only.size() <= 5 &&
      std::all_of(port_only.begin(), port_only.end(), [](char c) { return c >= '0' && c <= '9'; });
  const HostPortResult parsed =
      parse_host_port(bare_port ? "127.0.0.1:" + std::string(port_only) : *text, 0, true);
  if (!parsed.ok()) {
    report(errors, value, key, in_quotes(*text) + ": " + parsed.error);
    return;
  }
  if (parsed.value.port == 0) {
    report(errors, value, key, in_quotes(*text) + ": needs a port (\"127.0.0.1:9725\")");
    return;
  }
  config.admin.metrics_host = parsed.value.host;
  config.admin.metrics_port = parsed.value.port;
}

void apply_daemon_user(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  if (auto name = account_name_value(value, key, false, errors)) config.daemon.user = *name;
}

// libmilter's "unix:/path" or "local:/path"; inet is refused on purpose (see MilterConfig).
void apply_milter_socket(const toml::value& value, const std::string& key, Config& config,
                         Errors& errors) {
  std::optional<std::string> spec = string_value(value, key, errors);
  if (!spec) return;
  const std::size_t colon = spec->find(':');
  const std::string scheme = colon == std::string::npos ? "" : spec->substr(0, colon);
  if (scheme == "inet" || scheme == "inet6") {
    report(errors, value, key,
           in_quotes(*spec) +
               ": use a unix: socket (over TCP every held message waits ~42 ms for a delayed ACK)");
    return;
  }
  if (scheme != "unix" && scheme != "local") {
    report(errors, value, key, in_quotes(*spec) + " is not a milter socket (expected unix:/path)");
    return;
  }
  const std::string path = spec->substr(colon + 1);
  if (path.empty() || path.front() != '/') {
    report(errors, value, key, in_quotes(*spec) + ": the socket path must be absolute");
    return;
  }
  if (path.size() > kMaxUnixSocketPathLength || has_control_character(path)) {
    report(errors, value, key,
           in_quotes(*spec) + ": the socket path must be at most " +
               std::to_string(kMaxUnixSocketPathLength) + " printable bytes");
    return;
  }
  config.milter.socket = "unix:" + path;
}

void apply_intake_memory_limit(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  if (auto number = integer_value(value, key, 16, 1024 * 1024, errors)) {
    config.intake.memory_limit_mib = static_cast<std::uint64_t>(*number);
  }
}

void apply_intake_commit_timeout(const toml::value& value, const std::string& key, Config& config,
                                 Errors& errors) {
  if (auto number = integer_value(value, key, 10, 86400, errors)) {
    config.intake.commit_timeout_seconds = static_cast<std::uint32_t>(*number);
  }
}

void apply_postfix_config_directory(const toml::value& value, const std::string& key,
                                    Config& config, Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a directory path", errors)) {
    config.postfix.config_directory = std::move(*path);
  }
}

void apply_postfix_queue_directory(const toml::value& value, const std::string& key, Config& config,
                                   Errors& errors) {
  if (value.is_string() && value.as_string().str.empty()) {
    config.postfix.queue_directory.clear();
    return;
  }
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a directory path", errors)) {
    config.postfix.queue_directory = std::move(*path);
  }
}

void apply_postfix_postconf(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a file path", errors)) {
    config.postfix.postconf = std::move(*path);
  }
}

void apply_journal_directory(const toml::value& value, const std::string& key, Config& config,
                             Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a directory path", errors)) {
    config.journal.directory = std::move(*path);
  }
}

void apply_journal_map_size(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto number = integer_value(value, key, 1, 1024 * 1024, errors)) {
    config.journal.map_size_mib = static_cast<std::uint64_t>(*number);
  }
}

void apply_journal_sync_interval(const toml::value& value, const std::string& key, Config& config,
                                 Errors& errors) {
  if (auto number = integer_value(value, key, 0, 60000, errors)) {
    config.journal.sync_interval_ms = static_cast<std::uint32_t>(*number);
  }
}

// --- [delivery] -------------------------------------------------------------------------------

template <typename T>
void apply_number(const toml::value& value, const std::string& key, std::int64_t min,
                  std::int64_t max, T& into, Errors& errors) {
  if (auto number = integer_value(value, key, min, max, errors)) into = static_cast<T>(*number);
}

constexpr std::int64_t kMaxSeconds = 365LL * 24 * 3600;

void apply_delivery_enabled(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.delivery.enabled = *on;
}

void apply_delivery_mode(const toml::value& value, const std::string& key, Config& config,
                         Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (*name == "direct") {
    config.delivery.mode = DeliveryMode::direct;
  } else if (*name == "relay") {
    config.delivery.mode = DeliveryMode::relay;
  } else {
    report(errors, value, key, "unknown mode " + in_quotes(*name) + " (expected direct or relay)");
  }
}

void apply_delivery_relay(const toml::value& value, const std::string& key, Config& config,
                          Errors& errors) {
  const std::optional<std::string> text = string_value(value, key, errors);
  if (!text) return;
  if (text->empty()) {
    config.delivery.relay_host.clear();
    return;
  }
  const HostPortResult parsed = parse_host_port(*text, 25, false);
  if (!parsed.ok()) {
    report(errors, value, key, in_quotes(*text) + ": " + parsed.error);
    return;
  }
  config.delivery.relay_host = parsed.value.host;
  config.delivery.relay_port = parsed.value.port;
}

void apply_delivery_port(const toml::value& value, const std::string& key, Config& config,
                         Errors& errors) {
  apply_number(value, key, 1, 65535, config.delivery.port, errors);
}

void apply_delivery_helo_name(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (name->empty()) {
    config.delivery.helo_name.clear();
    return;
  }
  const DomainNameResult canonical = normalise_domain(*name);
  if (!canonical.ok()) {
    report(errors, value, key, in_quotes(*name) + " is not a host name: " + canonical.error);
    return;
  }
  config.delivery.helo_name = canonical.canonical;
}

void apply_delivery_max_connections(const toml::value& value, const std::string& key,
                                    Config& config, Errors& errors) {
  apply_number(value, key, 1, 10000, config.delivery.max_connections, errors);
}

void apply_delivery_max_connections_per_domain(const toml::value& value, const std::string& key,
                                               Config& config, Errors& errors) {
  apply_number(value, key, 1, 1000, config.delivery.max_connections_per_domain, errors);
}

void apply_delivery_max_messages_per_connection(const toml::value& value, const std::string& key,
                                                Config& config, Errors& errors) {
  apply_number(value, key, 1, 100000, config.delivery.max_messages_per_connection, errors);
}

void apply_delivery_connection_idle_time(const toml::value& value, const std::string& key,
                                         Config& config, Errors& errors) {
  apply_number(value, key, 0, 300, config.delivery.connection_idle_time, errors);
}

void apply_delivery_connection_reuse_time(const toml::value& value, const std::string& key,
                                          Config& config, Errors& errors) {
  apply_number(value, key, 1, 86400, config.delivery.connection_reuse_time, errors);
}

void apply_delivery_max_idle_connections(const toml::value& value, const std::string& key,
                                         Config& config, Errors& errors) {
  apply_number(value, key, 0, 10000, config.delivery.max_idle_connections, errors);
}

std::optional<TlsSetting> tls_value(const toml::value& value, const std::string& key,
                                    Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return std::nullopt;
  for (TlsSetting tls : {TlsSetting::opportunistic, TlsSetting::required, TlsSetting::off}) {
    if (*name == to_string(tls)) return tls;
  }
  report(errors, value, key,
         "unknown TLS policy " + in_quotes(*name) + " (expected opportunistic, required or off)");
  return std::nullopt;
}

void apply_delivery_tls(const toml::value& value, const std::string& key, Config& config,
                        Errors& errors) {
  if (auto tls = tls_value(value, key, errors)) config.delivery.tls = *tls;
}

// [delivery.tls_policy]: "domain" = "required" | "off" | "opportunistic".
void apply_delivery_tls_policy(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  if (!value.is_table()) {
    report(errors, value, key, "expected a table of domain = policy, got " + type_name(value));
    return;
  }
  std::vector<DomainTls> policies;
  bool all_valid = true;
  for (const auto& [domain, setting] : value.as_table()) {
    const std::string entry_key = key + "." + key_part(domain);
    const DomainNameResult canonical = normalise_domain(domain);
    if (!canonical.ok()) {
      report(errors, setting, entry_key, "not a domain: " + canonical.error);
      all_valid = false;
      continue;
    }
    if (auto tls = tls_value(setting, entry_key, errors)) {
      policies.push_back({canonical.canonical, *tls});
    } else {
      all_valid = false;
    }
  }
  if (all_valid) config.delivery.tls_policy = std::move(policies);
}

void apply_delivery_retry_min(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.delivery.retry_min, errors);
}
void apply_delivery_retry_max(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.delivery.retry_max, errors);
}
void apply_delivery_domain_backoff_min(const toml::value& value, const std::string& key,
                                       Config& config, Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.delivery.domain_backoff_min, errors);
}
void apply_delivery_domain_backoff_max(const toml::value& value, const std::string& key,
                                       Config& config, Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.delivery.domain_backoff_max, errors);
}
void apply_delivery_max_queue_lifetime(const toml::value& value, const std::string& key,
                                       Config& config, Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.delivery.max_queue_lifetime, errors);
}

// [delivery.timeouts]: seconds per SMTP phase.
void apply_delivery_timeouts(const toml::value& value, const std::string& key, Config& config,
                             Errors& errors) {
  if (!value.is_table()) {
    report(errors, value, key, "expected a table of phase = seconds, got " + type_name(value));
    return;
  }
  DeliveryTimeouts& t = config.delivery.timeouts;
  const std::array<std::pair<std::string_view, std::uint32_t*>, 11> phases{{
      {"connect", &t.connect},
      {"greeting", &t.greeting},
      {"ehlo", &t.ehlo},
      {"starttls", &t.starttls},
      {"mail", &t.mail},
      {"rcpt", &t.rcpt},
      {"data_init", &t.data_init},
      {"data_block", &t.data_block},
      {"data_end", &t.data_end},
      {"rset", &t.rset},
      {"quit", &t.quit},
  }};
  for (const auto& entry : value.as_table()) {
    const std::string& phase = entry.first;
    const toml::value& seconds = entry.second;
    const std::string phase_key = key + "." + key_part(phase);
    const auto it =
        std::find_if(phases.begin(), phases.end(), [&](const auto& p) { return p.first == phase; });
    if (it == phases.end()) {
      report(errors, seconds, phase_key,
             "unknown key (expected connect, greeting, ehlo, starttls, mail, rcpt, data_init, "
             "data_block, data_end, rset or quit)");
      continue;
    }
    apply_number(seconds, phase_key, 1, 3600, *it->second, errors);
  }
}

void apply_delivery_sendmail(const toml::value& value, const std::string& key, Config& config,
                             Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a file path", errors)) {
    config.delivery.sendmail = std::move(*path);
  }
}

void apply_delivery_dsn_relay(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  const std::optional<std::string> text = string_value(value, key, errors);
  if (!text) return;
  if (text->empty()) {
    config.delivery.dsn_relay_host.clear();
    return;
  }
  const HostPortResult parsed = parse_host_port(*text, 25, true);
  if (!parsed.ok()) {
    report(errors, value, key, in_quotes(*text) + ": " + parsed.error);
    return;
  }
  config.delivery.dsn_relay_host = parsed.value.host;
  config.delivery.dsn_relay_port = parsed.value.port;
}

void apply_delivery_accounting_log(const toml::value& value, const std::string& key, Config& config,
                                   Errors& errors) {
  if (value.is_string() && value.as_string().str.empty()) {
    config.delivery.accounting_log.clear();
    return;
  }
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a file path", errors)) {
    config.delivery.accounting_log = std::move(*path);
  }
}

// --- [dns] ------------------------------------------------------------------------------------

void apply_dns_servers(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  const auto elements = string_array_value(value, key, errors);
  if (!elements) return;
  std::vector<std::string> servers;
  bool all_valid = true;
  for (const toml::value* element : *elements) {
    const std::string& text = element->as_string().str;
    const HostPortResult parsed = parse_host_port(text, 53, true);
    if (!parsed.ok()) {
      report(errors, *element, key, in_quotes(text) + ": " + parsed.error);
      all_valid = false;
      continue;
    }
    servers.push_back(to_string(parsed.value));
  }
  if (all_valid) config.dns.servers = std::move(servers);
}

void apply_dns_timeout(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  apply_number(value, key, 10, 60000, config.dns.timeout_ms, errors);
}
void apply_dns_tries(const toml::value& value, const std::string& key, Config& config,
                     Errors& errors) {
  apply_number(value, key, 1, 10, config.dns.tries, errors);
}
void apply_dns_ipv6(const toml::value& value, const std::string& key, Config& config,
                    Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.dns.ipv6 = *on;
}
void apply_dns_cache_directory(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a directory path", errors)) {
    config.dns.cache_directory = std::move(*path);
  }
}
void apply_dns_cache_map_size(const toml::value& value, const std::string& key, Config& config,
                              Errors& errors) {
  apply_number(value, key, 1, 1024 * 1024, config.dns.cache_map_size_mib, errors);
}
void apply_dns_min_ttl(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  apply_number(value, key, 0, kMaxSeconds, config.dns.min_ttl, errors);
}
void apply_dns_max_ttl(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.dns.max_ttl, errors);
}
void apply_dns_negative_min_ttl(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  apply_number(value, key, 0, kMaxSeconds, config.dns.negative_min_ttl, errors);
}
void apply_dns_negative_max_ttl(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.dns.negative_max_ttl, errors);
}
void apply_dns_failure_ttl(const toml::value& value, const std::string& key, Config& config,
                           Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.dns.failure_ttl, errors);
}
void apply_dns_serve_stale(const toml::value& value, const std::string& key, Config& config,
                           Errors& errors) {
  apply_number(value, key, 0, kMaxSeconds, config.dns.serve_stale, errors);
}
void apply_dns_refresh_ahead(const toml::value& value, const std::string& key, Config& config,
                             Errors& errors) {
  apply_number(value, key, 1, kMaxSeconds, config.dns.refresh_ahead, errors);
}
void apply_dns_prefetch_queues(const toml::value& value, const std::string& key, Config& config,
                               Errors& errors) {
  apply_number(value, key, 0, 1000, config.dns.prefetch_queues, errors);
}

// The [shaping] rules that need the whole file: limits that contradict each other, and rules
// the matcher refuses (a bad regular expression).
void check_shaping_relations(const Config& config, Errors& errors) {
  const ShapingConfig& s = config.shaping;
  if (s.min_rate > s.initial_rate) {
    errors.push_back({0, "shaping.min_rate: larger than shaping.initial_rate"});
  }
  if (s.max_rate > 0 && s.min_rate > s.max_rate) {
    errors.push_back({0, "shaping.min_rate: larger than shaping.max_rate"});
  }
  for (const DestinationSetting& d : s.domains) {
    const std::string where = "shaping.domain." + key_part(d.pattern) + ".";
    const std::uint32_t retry_min = d.retry_min.value_or(config.delivery.retry_min);
    const std::uint32_t retry_max = d.retry_max.value_or(config.delivery.retry_max);
    if (retry_max < retry_min) errors.push_back({0, where + "retry_max: smaller than retry_min"});
    const std::uint32_t backoff_min =
        d.domain_backoff_min.value_or(config.delivery.domain_backoff_min);
    const std::uint32_t backoff_max =
        d.domain_backoff_max.value_or(config.delivery.domain_backoff_max);
    if (backoff_max < backoff_min) {
      errors.push_back({0, where + "domain_backoff_max: smaller than domain_backoff_min"});
    }
    if (d.max_rate && *d.max_rate > 0 && s.min_rate > *d.max_rate) {
      errors.push_back({0, where + "max_rate: smaller than shaping.min_rate"});
    }
  }
  // The file's own rules only: the built-in ones are known good, and compiling their regular
  // expressions on every parse would be most of a parse's time.
  ShapingConfig own = s;
  own.default_rules = false;
  const ResponseRulesResult compiled = ResponseRules::make(response_rules_of(own));
  if (!compiled.ok()) errors.push_back({0, "shaping.rules: " + compiled.error});
}

// Rules between keys, checked once the whole file is read.
void check_relations(const Config& config, Errors& errors) {
  const DeliveryConfig& d = config.delivery;
  if (d.mode == DeliveryMode::relay && d.relay_host.empty()) {
    errors.push_back({0, "delivery.relay: must be set when delivery.mode is \"relay\""});
  }
  if (d.retry_max < d.retry_min) {
    errors.push_back({0, "delivery.retry_max: smaller than delivery.retry_min"});
  }
  if (d.domain_backoff_max < d.domain_backoff_min) {
    errors.push_back({0, "delivery.domain_backoff_max: smaller than delivery.domain_backoff_min"});
  }
  if (config.dns.max_ttl < config.dns.min_ttl) {
    errors.push_back({0, "dns.max_ttl: smaller than dns.min_ttl"});
  }
  if (config.dns.negative_max_ttl < config.dns.negative_min_ttl) {
    errors.push_back({0, "dns.negative_max_ttl: smaller than dns.negative_min_ttl"});
  }
  check_shaping_relations(config, errors);
}

// The schema: every table and key bulkq.toml may hold, each spelled here once.
using ApplyKey = void (*)(const toml::value&, const std::string&, Config&, Errors&);

struct KeyRule {
  std::string_view name;
  ApplyKey apply;
};

struct TableRule {
  std::string_view name;
  std::span<const KeyRule> keys;
};

constexpr std::array kLogKeys{
    KeyRule{"target", apply_log_target},
    KeyRule{"file", apply_log_file},
    KeyRule{"level", apply_log_level},
};
constexpr std::array kSchedulerKeys{
    KeyRule{"policy", apply_scheduler_policy},
    KeyRule{"batch_max_recipients", apply_batch_max_recipients},
    KeyRule{"handoff_capacity", apply_handoff_capacity},
};
constexpr std::array kAdminKeys{
    KeyRule{"socket", apply_admin_socket},
    KeyRule{"users", apply_admin_users},
    KeyRule{"groups", apply_admin_groups},
    KeyRule{"socket_group", apply_admin_socket_group},
    KeyRule{"metrics_listen", apply_admin_metrics_listen},
};
constexpr std::array kDaemonKeys{
    KeyRule{"user", apply_daemon_user},
};
constexpr std::array kMilterKeys{
    KeyRule{"socket", apply_milter_socket},
};
constexpr std::array kIntakeKeys{
    KeyRule{"memory_limit", apply_intake_memory_limit},
    KeyRule{"commit_timeout", apply_intake_commit_timeout},
};
constexpr std::array kPostfixKeys{
    KeyRule{"config_directory", apply_postfix_config_directory},
    KeyRule{"queue_directory", apply_postfix_queue_directory},
    KeyRule{"postconf", apply_postfix_postconf},
};
constexpr std::array kJournalKeys{
    KeyRule{"directory", apply_journal_directory},
    KeyRule{"map_size", apply_journal_map_size},
    KeyRule{"sync_interval", apply_journal_sync_interval},
};
constexpr std::array kBulkKeys{
    KeyRule{"precedence_values", apply_bulk_precedence_values},
    KeyRule{"header_name", apply_bulk_header_name},
    KeyRule{"header_values", apply_bulk_header_values},
    KeyRule{"list_unsubscribe", apply_bulk_list_unsubscribe},
    KeyRule{"min_recipients", apply_bulk_min_recipients},
    KeyRule{"sasl_logins", apply_bulk_sasl_logins},
    KeyRule{"client_networks", apply_bulk_client_networks},
    KeyRule{"sender_domains", apply_bulk_sender_domains},
};
constexpr std::array kDeliveryKeys{
    KeyRule{"enabled", apply_delivery_enabled},
    KeyRule{"mode", apply_delivery_mode},
    KeyRule{"relay", apply_delivery_relay},
    KeyRule{"port", apply_delivery_port},
    KeyRule{"helo_name", apply_delivery_helo_name},
    KeyRule{"max_connections", apply_delivery_max_connections},
    KeyRule{"max_connections_per_domain", apply_delivery_max_connections_per_domain},
    KeyRule{"max_messages_per_connection", apply_delivery_max_messages_per_connection},
    KeyRule{"connection_idle_time", apply_delivery_connection_idle_time},
    KeyRule{"connection_reuse_time", apply_delivery_connection_reuse_time},
    KeyRule{"max_idle_connections", apply_delivery_max_idle_connections},
    KeyRule{"tls", apply_delivery_tls},
    KeyRule{"tls_policy", apply_delivery_tls_policy},
    KeyRule{"retry_min", apply_delivery_retry_min},
    KeyRule{"retry_max", apply_delivery_retry_max},
    KeyRule{"domain_backoff_min", apply_delivery_domain_backoff_min},
    KeyRule{"domain_backoff_max", apply_delivery_domain_backoff_max},
    KeyRule{"max_queue_lifetime", apply_delivery_max_queue_lifetime},
    KeyRule{"timeouts", apply_delivery_timeouts},
    KeyRule{"sendmail", apply_delivery_sendmail},
    KeyRule{"dsn_relay", apply_delivery_dsn_relay},
    KeyRule{"accounting_log", apply_delivery_accounting_log},
};
constexpr std::array kDnsKeys{
    KeyRule{"servers", apply_dns_servers},
    KeyRule{"timeout", apply_dns_timeout},
    KeyRule{"tries", apply_dns_tries},
    KeyRule{"ipv6", apply_dns_ipv6},
    KeyRule{"cache_directory", apply_dns_cache_directory},
    KeyRule{"cache_map_size", apply_dns_cache_map_size},
    KeyRule{"min_ttl", apply_dns_min_ttl},
    KeyRule{"max_ttl", apply_dns_max_ttl},
    KeyRule{"negative_min_ttl", apply_dns_negative_min_ttl},
    KeyRule{"negative_max_ttl", apply_dns_negative_max_ttl},
    KeyRule{"failure_ttl", apply_dns_failure_ttl},
    KeyRule{"serve_stale", apply_dns_serve_stale},
    KeyRule{"refresh_ahead", apply_dns_refresh_ahead},
    KeyRule{"prefetch_queues", apply_dns_prefetch_queues},
};
// --- [quota] ----------------------------------------------------------------------------------

// Far above any licence; keeps sums of counts clear of overflow.
constexpr std::int64_t kMaxQuota = 1'000'000'000'000'000LL;
constexpr std::size_t kMaxQuotaReplyLength = 200;

void apply_quota_period(const toml::value& value, const std::string& key, Config& config,
                        Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (auto period = parse_volume_period(*name)) {
    config.quota.period = *period;
  } else {
    report(errors, value, key,
           "unknown period " + in_quotes(*name) + " (expected hour, day or month)");
  }
}

void apply_quota_messages(const toml::value& value, const std::string& key, Config& config,
                          Errors& errors) {
  apply_number(value, key, 0, kMaxQuota, config.quota.messages, errors);
}

void apply_quota_recipients(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  apply_number(value, key, 0, kMaxQuota, config.quota.recipients, errors);
}

void apply_quota_action(const toml::value& value, const std::string& key, Config& config,
                        Errors& errors) {
  const std::optional<std::string> name = string_value(value, key, errors);
  if (!name) return;
  if (*name == to_string(QuotaAction::fail_open)) {
    config.quota.action = QuotaAction::fail_open;
  } else if (*name == to_string(QuotaAction::tempfail)) {
    config.quota.action = QuotaAction::tempfail;
  } else {
    report(errors, value, key,
           "unknown action " + in_quotes(*name) + " (expected fail_open or tempfail)");
  }
}

// The reply goes on the SMTP wire after "451 4.7.1 ": printable ASCII only, one line.
void apply_quota_reply(const toml::value& value, const std::string& key, Config& config,
                       Errors& errors) {
  const std::optional<std::string> text = string_value(value, key, errors);
  if (!text) return;
  const bool printable = std::all_of(text->begin(), text->end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (text->empty() || !printable || text->size() > kMaxQuotaReplyLength) {
    report(errors, value, key,
           "expected 1 to " + std::to_string(kMaxQuotaReplyLength) +
               " printable ASCII characters (it is sent in the SMTP reply)");
    return;
  }
  config.quota.reply = *text;
}

void apply_quota_directory(const toml::value& value, const std::string& key, Config& config,
                           Errors& errors) {
  if (auto path = absolute_path_value(value, key, kMaxPathLength, "a directory path", errors)) {
    config.quota.directory = std::move(*path);
  }
}

// [quota.sender_domains]: "example.com" = { messages = N, recipients = N }.
void apply_quota_sender_domains(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  if (!value.is_table()) {
    report(
        errors, value, key,
        "expected a table of domain = { messages = N, recipients = N }, got " + type_name(value));
    return;
  }
  std::vector<QuotaDomain> domains;
  bool all_valid = true;
  for (const auto& [domain, limits] : value.as_table()) {
    const std::string entry_key = key + "." + key_part(domain);
    const DomainNameResult canonical = normalise_domain(domain);
    if (!canonical.ok()) {
      report(errors, limits, entry_key, "not a domain: " + canonical.error);
      all_valid = false;
      continue;
    }
    if (!limits.is_table()) {
      report(errors, limits, entry_key,
             "expected { messages = N, recipients = N }, got " + type_name(limits));
      all_valid = false;
      continue;
    }
    QuotaDomain entry{canonical.canonical, 0, 0};
    for (const auto& [name, number] : limits.as_table()) {
      const std::string limit_key = entry_key + "." + key_part(name);
      if (name == "messages") {
        if (auto n = integer_value(number, limit_key, 0, kMaxQuota, errors)) {
          entry.messages = static_cast<std::uint64_t>(*n);
        } else {
          all_valid = false;
        }
      } else if (name == "recipients") {
        if (auto n = integer_value(number, limit_key, 0, kMaxQuota, errors)) {
          entry.recipients = static_cast<std::uint64_t>(*n);
        } else {
          all_valid = false;
        }
      } else {
        report(errors, number, limit_key, "unknown key (expected messages or recipients)");
        all_valid = false;
      }
    }
    const auto same = std::find_if(domains.begin(), domains.end(),
                                   [&](const QuotaDomain& d) { return d.domain == entry.domain; });
    if (same != domains.end()) {
      report(errors, limits, entry_key,
             "the domain " + in_quotes(entry.domain) + " is listed twice");
      all_valid = false;
      continue;
    }
    domains.push_back(std::move(entry));
  }
  // The file's order is lost in the TOML table: by name, so equal files give equal configs.
  std::sort(domains.begin(), domains.end(),
            [](const QuotaDomain& a, const QuotaDomain& b) { return a.domain < b.domain; });
  if (all_valid) config.quota.sender_domains = std::move(domains);
}

constexpr std::array kQuotaKeys{
    KeyRule{"period", apply_quota_period},
    KeyRule{"messages", apply_quota_messages},
    KeyRule{"recipients", apply_quota_recipients},
    KeyRule{"action", apply_quota_action},
    KeyRule{"reply", apply_quota_reply},
    KeyRule{"directory", apply_quota_directory},
    KeyRule{"sender_domains", apply_quota_sender_domains},
};

// --- [shaping] --------------------------------------------------------------------------------

constexpr double kMaxRate = 1e6;  // messages per second: far beyond any one destination

// An integer or a float within [min, max].
std::optional<double> decimal_value(const toml::value& value, const std::string& key, double min,
                                    double max, Errors& errors) {
  double number = 0;
  if (value.is_integer()) {
    number = static_cast<double>(value.as_integer());
  } else if (value.is_floating()) {
    number = value.as_floating();
  } else {
    report(errors, value, key, "expected a number, got " + type_name(value));
    return std::nullopt;
  }
  if (!(number >= min && number <= max)) {  // also refuses nan
    std::ostringstream text;
    text << number << " is out of range (expected " << min << " to " << max << ")";
    report(errors, value, key, text.str());
    return std::nullopt;
  }
  return number;
}

void apply_shaping_adaptive(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.shaping.adaptive = *on;
}
void apply_shaping_mx_rollup(const toml::value& value, const std::string& key, Config& config,
                             Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.shaping.mx_rollup = *on;
}
void apply_shaping_default_rules(const toml::value& value, const std::string& key, Config& config,
                                 Errors& errors) {
  if (auto on = boolean_value(value, key, errors)) config.shaping.default_rules = *on;
}
void apply_shaping_initial_connections(const toml::value& value, const std::string& key,
                                       Config& config, Errors& errors) {
  apply_number(value, key, 1, 1000, config.shaping.initial_connections, errors);
}
void apply_shaping_max_rate(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto rate = decimal_value(value, key, 0, kMaxRate, errors)) config.shaping.max_rate = *rate;
}
void apply_shaping_initial_rate(const toml::value& value, const std::string& key, Config& config,
                                Errors& errors) {
  if (auto rate = decimal_value(value, key, 0.001, kMaxRate, errors))
    config.shaping.initial_rate = *rate;
}
void apply_shaping_min_rate(const toml::value& value, const std::string& key, Config& config,
                            Errors& errors) {
  if (auto rate = decimal_value(value, key, 0.001, kMaxRate, errors))
    config.shaping.min_rate = *rate;
}

// [[shaping.rules]]: { pattern = "…", regex = false, action = "suspend", suspend = 300,
// rate_factor = 0.5 }, in file order (the first rule that matches wins).
void apply_shaping_rules(const toml::value& value, const std::string& key, Config& config,
                         Errors& errors) {
  if (!value.is_array()) {
    report(errors, value, key,
           "expected an array of tables ([[shaping.rules]]), got " + type_name(value));
    return;
  }
  std::vector<ShapingRuleSetting> rules;
  bool all_valid = true;
  std::size_t position = 0;
  for (const toml::value& entry : value.as_array()) {
    const std::string entry_key = key + "[" + std::to_string(++position) + "]";
    if (!entry.is_table()) {
      report(errors, entry, entry_key, "expected a table, got " + type_name(entry));
      all_valid = false;
      continue;
    }
    ShapingRuleSetting rule;
    bool has_pattern = false;
    bool has_action = false;
    const bool valid_before = all_valid;
    all_valid = true;  // this entry's own keys, below
    for (const auto& [name, item] : entry.as_table()) {
      const std::string item_key = entry_key + "." + key_part(name);
      if (name == "pattern") {
        auto text = string_value(item, item_key, errors);
        if (text) {
          rule.pattern = *text;
          has_pattern = true;
        }
        all_valid = all_valid && text.has_value();
      } else if (name == "regex") {
        auto on = boolean_value(item, item_key, errors);
        if (on) rule.regex = *on;
        all_valid = all_valid && on.has_value();
      } else if (name == "action") {
        auto text = string_value(item, item_key, errors);
        bool known = false;
        for (ShapingRuleAction a : {ShapingRuleAction::suspend, ShapingRuleAction::scale_rate,
                                    ShapingRuleAction::bounce}) {
          if (text && *text == to_string(a)) {
            rule.action = a;
            known = true;
          }
        }
        if (text && !known) {
          report(
              errors, item, item_key,
              "unknown action " + in_quotes(*text) + " (expected suspend, scale_rate or bounce)");
        }
        has_action = known;
        all_valid = all_valid && known;
      } else if (name == "suspend") {
        auto seconds = integer_value(item, item_key, 1, 86400, errors);
        if (seconds) rule.suspend = static_cast<std::uint32_t>(*seconds);
        all_valid = all_valid && seconds.has_value();
      } else if (name == "rate_factor") {
        auto factor = decimal_value(item, item_key, 0.001, 0.999, errors);
        if (factor) rule.rate_factor = *factor;
        all_valid = all_valid && factor.has_value();
      } else {
        report(errors, item, item_key,
               "unknown key (expected pattern, regex, action, suspend or rate_factor)");
        all_valid = false;
      }
    }
    const bool keys_valid = all_valid;
    all_valid = valid_before && keys_valid;
    if (!keys_valid) continue;  // the key's own error says enough
    if (!has_pattern || !has_action) {
      report(errors, entry, entry_key, "a rule needs a pattern and an action");
      all_valid = false;
      continue;
    }
    if (rule.action == ShapingRuleAction::suspend && rule.suspend == 0) {
      report(errors, entry, entry_key, "action \"suspend\" needs suspend = SECONDS");
      all_valid = false;
    }
    if (rule.action == ShapingRuleAction::scale_rate && rule.rate_factor == 0) {
      report(errors, entry, entry_key, "action \"scale_rate\" needs rate_factor = F (0 < F < 1)");
      all_valid = false;
    }
    rules.push_back(std::move(rule));
  }
  if (all_valid) config.shaping.rules = std::move(rules);
}

// "example.com" or "*.example.com", canonical; empty with an error otherwise.
std::string destination_pattern(const std::string& text, std::string& error) {
  const bool wildcard = text.starts_with("*.");
  const DomainNameResult canonical = normalise_domain(wildcard ? text.substr(2) : text);
  if (!canonical.ok()) {
    error = "not a domain or *.domain pattern: " + canonical.error;
    return {};
  }
  return wildcard ? "*." + canonical.canonical : canonical.canonical;
}

// [shaping.domain."PATTERN"]: limits for the destinations of a domain or of a domain's subdomains.
void apply_shaping_domain(const toml::value& value, const std::string& key, Config& config,
                          Errors& errors) {
  if (!value.is_table()) {
    report(errors, value, key,
           "expected a table of \"domain\" = { limits }, got " + type_name(value));
    return;
  }
  std::vector<DestinationSetting> domains;
  bool all_valid = true;
  for (const auto& [name, limits] : value.as_table()) {
    const std::string entry_key = key + "." + key_part(name);
    std::string error;
    DestinationSetting entry;
    entry.pattern = destination_pattern(name, error);
    if (!error.empty()) {
      report(errors, limits, entry_key, error);
      all_valid = false;
      continue;
    }
    if (!limits.is_table()) {
      report(errors, limits, entry_key, "expected a table of limits, got " + type_name(limits));
      all_valid = false;
      continue;
    }
    for (const auto& limit : limits.as_table()) {
      // Named references, not a structured binding: the lambda below captures `item` (clang 14
      // refuses to capture a binding).
      const std::string& item_name = limit.first;
      const toml::value& item = limit.second;
      const std::string item_key = entry_key + "." + key_part(item_name);
      bool ok = true;
      const auto number = [&](std::int64_t min, std::int64_t max,
                              std::optional<std::uint32_t>& into) {
        auto n = integer_value(item, item_key, min, max, errors);
        if (n) into = static_cast<std::uint32_t>(*n);
        ok = n.has_value();
      };
      if (item_name == "max_connections") {
        number(1, 1000, entry.max_connections);
      } else if (item_name == "max_messages_per_connection") {
        number(1, 100000, entry.max_messages_per_connection);
      } else if (item_name == "max_rate") {
        auto rate = decimal_value(item, item_key, 0, kMaxRate, errors);
        if (rate) entry.max_rate = *rate;
        ok = rate.has_value();
      } else if (item_name == "tls") {
        auto tls = tls_value(item, item_key, errors);
        if (tls) entry.tls = *tls;
        ok = tls.has_value();
      } else if (item_name == "adaptive") {
        auto on = boolean_value(item, item_key, errors);
        if (on) entry.adaptive = *on;
        ok = on.has_value();
      } else if (item_name == "retry_min") {
        number(1, kMaxSeconds, entry.retry_min);
      } else if (item_name == "retry_max") {
        number(1, kMaxSeconds, entry.retry_max);
      } else if (item_name == "domain_backoff_min") {
        number(1, kMaxSeconds, entry.domain_backoff_min);
      } else if (item_name == "domain_backoff_max") {
        number(1, kMaxSeconds, entry.domain_backoff_max);
      } else {
        report(errors, item, item_key,
               "unknown key (expected max_connections, max_messages_per_connection, max_rate, "
               "tls, adaptive, retry_min, retry_max, domain_backoff_min or domain_backoff_max)");
        ok = false;
      }
      all_valid = all_valid && ok;
    }
    const auto same =
        std::find_if(domains.begin(), domains.end(),
                     [&](const DestinationSetting& d) { return d.pattern == entry.pattern; });
    if (same != domains.end()) {
      report(errors, limits, entry_key,
             "the pattern " + in_quotes(entry.pattern) + " is listed twice");
      all_valid = false;
      continue;
    }
    domains.push_back(std::move(entry));
  }
  std::sort(domains.begin(), domains.end(),
            [](const DestinationSetting& a, const DestinationSetting& b) {
              return a.pattern < b.pattern;
            });
  if (all_valid) config.shaping.domains = std::move(domains);
}

constexpr std::array kShapingKeys{
    KeyRule{"adaptive", apply_shaping_adaptive},
    KeyRule{"mx_rollup", apply_shaping_mx_rollup},
    KeyRule{"initial_connections", apply_shaping_initial_connections},
    KeyRule{"max_rate", apply_shaping_max_rate},
    KeyRule{"initial_rate", apply_shaping_initial_rate},
    KeyRule{"min_rate", apply_shaping_min_rate},
    KeyRule{"default_rules", apply_shaping_default_rules},
    KeyRule{"rules", apply_shaping_rules},
    KeyRule{"domain", apply_shaping_domain},
};

constexpr std::array kTables{
    TableRule{"log", kLogKeys},         TableRule{"scheduler", kSchedulerKeys},
    TableRule{"admin", kAdminKeys},     TableRule{"bulk", kBulkKeys},
    TableRule{"daemon", kDaemonKeys},   TableRule{"milter", kMilterKeys},
    TableRule{"intake", kIntakeKeys},   TableRule{"postfix", kPostfixKeys},
    TableRule{"journal", kJournalKeys}, TableRule{"delivery", kDeliveryKeys},
    TableRule{"dns", kDnsKeys},         TableRule{"quota", kQuotaKeys},
    TableRule{"shaping", kShapingKeys},
};

// "a, b or c", for the "expected …" part of a message.
template <typename Rule>
std::string one_of(std::span<const Rule> rules) {
  std::string out;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (i > 0) out += (i + 1 == rules.size()) ? " or " : ", ";
    out += rules[i].name;
  }
  return out;
}

template <typename Rule>
const Rule* find_rule(std::span<const Rule> rules, std::string_view name) {
  const auto it =
      std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == name; });
  return it == rules.end() ? nullptr : &*it;
}

void read_document(const toml::value& root, Config& config, Errors& errors) {
  const std::span<const TableRule> tables(kTables);
  for (const auto& [table_name, table] : root.as_table()) {
    const std::string table_key = key_part(table_name);
    const TableRule* table_rule = find_rule(tables, table_name);
    if (table_rule == nullptr) {
      report(errors, table, table_key,
             std::string(table.is_table() ? "unknown table" : "unknown key") + " (expected " +
                 (table.is_table() ? "" : "the tables ") + one_of(tables) + ")");
      continue;
    }
    if (!table.is_table()) {
      report(errors, table, table_key, "expected a table, got " + type_name(table));
      continue;
    }
    for (const auto& [key_name, value] : table.as_table()) {
      const std::string key = table_key + "." + key_part(key_name);
      const KeyRule* key_rule = find_rule(table_rule->keys, key_name);
      if (key_rule == nullptr) {
        report(errors, value, key, "unknown key (expected " + one_of(table_rule->keys) + ")");
        continue;
      }
      key_rule->apply(value, key, config, errors);
    }
  }
}

// The line of the first '[' or '{' nested deeper than kMaxNestingDepth, or 0. A light lexer:
// it skips comments and the four kinds of TOML string so brackets inside them do not count.
std::uint_least32_t line_of_excess_nesting(std::string_view text) {
  std::uint_least32_t line = 1;
  std::size_t depth = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n')
        ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi_line = text.substr(i, 3) == std::string(3, c);
      const bool escapes = c == '"';
      i += multi_line ? 3 : 1;
      while (i < text.size()) {
        const char s = text[i];
        if (s == '\n' && !multi_line) break;  // unterminated: the parser will say so
        if (s == '\n') ++line;
        if (escapes && s == '\\') {
          if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (s == c && (!multi_line || text.substr(i, 3) == std::string(3, c))) {
          i += multi_line ? 3 : 1;
          break;
        }
        ++i;
      }
    } else {
      if (c == '[' || c == '{') {
        if (++depth > kMaxNestingDepth) return line;
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
      ++i;
    }
  }
  return 0;
}

// The line of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0. TOML requires UTF-8, and toml11 3.7 reads past
// its buffer on some invalid sequences inside strings (toml11 issue #199), so such a file never
// reaches it.
std::uint_least32_t line_of_invalid_utf8(std::string_view text) {
  std::uint_least32_t line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence(text, i);
    if (length == 0) return line;
    if (text[i] == '\n') ++line;
    i += length;
  }
  return 0;
}

// toml11 reports "[error] toml::parse_key_value_pair: missing value after ...\n --> file\n ...".
// The first line without its prefixes is the message; the rest is an excerpt of the file with a
// caret under the problem, worth keeping for the admin.
std::string describe_toml_error(const std::string& what) {
  const std::size_t end_of_first = std::min(what.find('\n'), what.size());
  std::string_view first(what.data(), end_of_first);
  constexpr std::string_view kErrorTag = "[error] ";
  if (first.substr(0, kErrorTag.size()) == kErrorTag) first.remove_prefix(kErrorTag.size());
  if (first.substr(0, 6) == "toml::") {
    if (const std::size_t colon = first.find(": "); colon != std::string_view::npos) {
      first.remove_prefix(colon + 2);
    }
  }
  std::string out(first);
  if (end_of_first < what.size()) {
    std::string_view excerpt(what.data() + end_of_first, what.size() - end_of_first);
    while (!excerpt.empty() && excerpt.back() == '\n')
      excerpt.remove_suffix(1);
    out += excerpt;
  }
  return out;
}

std::string join_errors(const std::string& source_name, Errors& errors) {
  std::stable_sort(errors.begin(), errors.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  std::string out;
  for (const ConfigError& e : errors) {
    if (!out.empty()) out += '\n';
    out += source_name;
    if (e.line > 0) out += ":" + std::to_string(e.line);
    out += ": " + e.text;
  }
  return out;
}

ConfigResult failure(std::string error) {
  ConfigResult result;
  result.error = std::move(error);
  return result;
}

}  // namespace

ConfigResult parse_config(std::string_view toml_text, const std::string& source_name) {
  if (toml_text.size() > kMaxConfigFileSize) {
    return failure(source_name + ": larger than " + std::to_string(kMaxConfigFileSize) +
                   " bytes; not a bulkq configuration file");
  }
  if (const std::uint_least32_t line = line_of_invalid_utf8(toml_text); line > 0) {
    return failure(source_name + ":" + std::to_string(line) +
                   ": not valid UTF-8 (a TOML file must be UTF-8 text)");
  }
  if (const std::uint_least32_t line = line_of_excess_nesting(toml_text); line > 0) {
    return failure(source_name + ":" + std::to_string(line) + ": arrays or inline tables nested " +
                   "deeper than " + std::to_string(kMaxNestingDepth) + " levels");
  }
  // The TOML library reports problems by throwing; nothing may leave this function that way.
  try {
    std::istringstream stream{std::string(toml_text)};
    const toml::value root = toml::parse(stream, source_name);
    ConfigResult result;
    Errors errors;
    read_document(root, result.config, errors);
    if (errors.empty()) check_relations(result.config, errors);
    if (!errors.empty()) return failure(join_errors(source_name, errors));
    return result;
  } catch (const toml::syntax_error& e) {
    return failure(source_name + ":" + std::to_string(e.location().line()) +
                   ": TOML syntax error: " + describe_toml_error(e.what()));
  } catch (const toml::exception& e) {
    return failure(source_name + ":" + std::to_string(e.location().line()) +
                   ": TOML error: " + describe_toml_error(e.what()));
  } catch (const std::exception& e) {
    return failure(source_name + ": cannot parse: " + e.what());
  } catch (...) {
    return failure(source_name + ": cannot parse: unknown error");
  }
}

ConfigResult load_config_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return failure("cannot open " + path + ": " + std::generic_category().message(errno));
  }
  std::string text;
  std::array<char, 8192> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int read_errno = errno;
      ::close(fd);
      return failure("cannot read " + path + ": " + std::generic_category().message(read_errno));
    }
    if (n == 0) break;
    text.append(buffer.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigFileSize) break;  // parse_config says why it stops here
  }
  ::close(fd);
  return parse_config(text, path);
}

}  // namespace bulkq
