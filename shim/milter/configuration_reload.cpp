#include "milter/configuration_reload.h"

#include <vector>

#include "admin/domain_report.h"
#include "admin/status_reply.h"
#include "config/config_changes.h"
#include "config/config_parser.h"

namespace bulkq {

namespace {

std::string joined(const std::vector<std::string_view>& keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// Copies the settings a reload applies from `fresh` into `running`.
void take_live_settings(Config& running, const Config& fresh) {
  running.log.level = fresh.log.level;
  DeliveryConfig& d = running.delivery;
  const DeliveryConfig& f = fresh.delivery;
  d.max_connections = f.max_connections;
  d.max_connections_per_domain = f.max_connections_per_domain;
  d.max_messages_per_connection = f.max_messages_per_connection;
  d.connection_idle_time = f.connection_idle_time;
  d.connection_reuse_time = f.connection_reuse_time;
  d.max_idle_connections = f.max_idle_connections;
  d.tls = f.tls;
  d.tls_policy = f.tls_policy;
  d.retry_min = f.retry_min;
  d.retry_max = f.retry_max;
  d.domain_backoff_min = f.domain_backoff_min;
  d.domain_backoff_max = f.domain_backoff_max;
  d.max_queue_lifetime = f.max_queue_lifetime;
  d.timeouts = f.timeouts;
  running.shaping = fresh.shaping;
}

}  // namespace

std::string ConfigurationReload::reload() {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto log = [this](LogLevel level, const std::string& text) {
    if (hooks_.log) hooks_.log(level, text);
  };
  const ConfigResult fresh = load_config_file(path_);
  if (!fresh.ok()) {
    log(LogLevel::error, "reload: configuration " + path_ +
                             " is invalid; the running configuration stays: " + fresh.error);
    return error_reply_json("reload: " + fresh.error + " (nothing changed)");
  }
  std::vector<std::string_view> applied;
  std::vector<std::string_view> waiting;
  bool delivery_changed = false;
  for (std::string_view key : changed_settings(running_, fresh.config)) {
    if (!applies_on_reload(key)) {
      waiting.push_back(key);
      continue;
    }
    applied.push_back(key);
    if (key != "log.level") delivery_changed = true;
  }
  if (delivery_changed) {
    const std::optional<std::string> error =
        hooks_.apply_delivery ? hooks_.apply_delivery(fresh.config) : std::string();
    if (!error) {
      log(LogLevel::error, "reload: the scheduler thread did not answer; nothing changed");
      return error_reply_json(
          "reload: the scheduler thread did not answer in time; nothing changed, try again");
    }
    if (!error->empty()) {
      log(LogLevel::error, "reload: " + *error + "; nothing changed");
      return error_reply_json("reload: " + *error + " (nothing changed)");
    }
  }
  if (fresh.config.log.level != running_.log.level && hooks_.apply_log_level)
    hooks_.apply_log_level(fresh.config.log.level);
  take_live_settings(running_, fresh.config);

  std::string message = "reloaded " + path_ + ": ";
  message += applied.empty() ? std::string("nothing to apply") : "applied " + joined(applied);
  if (!waiting.empty()) message += "; waiting for a restart: " + joined(waiting);
  log(LogLevel::info, message);
  if (!waiting.empty()) {
    log(LogLevel::warning,
        "reload: changed settings that take effect only after a restart: " + joined(waiting));
  }
  return done_reply_json(message);
}

}  // namespace bulkq
