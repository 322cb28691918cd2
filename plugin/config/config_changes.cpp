#include "config/config_changes.h"

namespace bulkq {

std::vector<std::string_view> changed_settings(const Config& before, const Config& after) {
  std::vector<std::string_view> changed;
  const auto note = [&changed](bool differs, std::string_view key) {
    if (differs) changed.push_back(key);
  };
  note(before.log.target != after.log.target, "log.target");
  note(before.log.file != after.log.file, "log.file");
  note(before.log.level != after.log.level, "log.level");
  note(before.scheduler.policy != after.scheduler.policy, "scheduler.policy");
  note(before.scheduler.batch_max_recipients != after.scheduler.batch_max_recipients,
       "scheduler.batch_max_recipients");
  note(before.handoff_capacity != after.handoff_capacity, "scheduler.handoff_capacity");
  note(before.admin.socket != after.admin.socket, "admin.socket");
  note(before.admin.users != after.admin.users, "admin.users");
  note(before.admin.groups != after.admin.groups, "admin.groups");
  note(before.admin.socket_group != after.admin.socket_group, "admin.socket_group");
  note(before.admin.metrics_host != after.admin.metrics_host ||
           before.admin.metrics_port != after.admin.metrics_port,
       "admin.metrics_listen");
  const BulkRules& was = before.bulk;
  const BulkRules& is = after.bulk;
  note(was.precedence_values != is.precedence_values, "bulk.precedence_values");
  note(was.header_name != is.header_name, "bulk.header_name");
  note(was.header_values != is.header_values, "bulk.header_values");
  note(was.list_unsubscribe != is.list_unsubscribe, "bulk.list_unsubscribe");
  note(was.min_recipients != is.min_recipients, "bulk.min_recipients");
  note(was.sasl_logins != is.sasl_logins, "bulk.sasl_logins");
  note(was.client_networks != is.client_networks, "bulk.client_networks");
  note(was.sender_domains != is.sender_domains, "bulk.sender_domains");
  note(before.daemon.user != after.daemon.user, "daemon.user");
  note(before.milter.socket != after.milter.socket, "milter.socket");
  note(before.intake.memory_limit_mib != after.intake.memory_limit_mib, "intake.memory_limit");
  note(before.intake.commit_timeout_seconds != after.intake.commit_timeout_seconds,
       "intake.commit_timeout");
  note(before.postfix.config_directory != after.postfix.config_directory,
       "postfix.config_directory");
  note(before.postfix.queue_directory != after.postfix.queue_directory, "postfix.queue_directory");
  note(before.postfix.postconf != after.postfix.postconf, "postfix.postconf");
  note(before.journal.directory != after.journal.directory, "journal.directory");
  note(before.journal.map_size_mib != after.journal.map_size_mib, "journal.map_size");
  note(before.journal.sync_interval_ms != after.journal.sync_interval_ms, "journal.sync_interval");
  const DeliveryConfig& d0 = before.delivery;
  const DeliveryConfig& d1 = after.delivery;
  note(d0.enabled != d1.enabled, "delivery.enabled");
  note(d0.mode != d1.mode, "delivery.mode");
  note(d0.relay_host != d1.relay_host || d0.relay_port != d1.relay_port, "delivery.relay");
  note(d0.port != d1.port, "delivery.port");
  note(d0.helo_name != d1.helo_name, "delivery.helo_name");
  note(d0.max_connections != d1.max_connections, "delivery.max_connections");
  note(d0.max_connections_per_domain != d1.max_connections_per_domain,
       "delivery.max_connections_per_domain");
  note(d0.max_messages_per_connection != d1.max_messages_per_connection,
       "delivery.max_messages_per_connection");
  note(d0.connection_idle_time != d1.connection_idle_time, "delivery.connection_idle_time");
  note(d0.connection_reuse_time != d1.connection_reuse_time, "delivery.connection_reuse_time");
  note(d0.max_idle_connections != d1.max_idle_connections, "delivery.max_idle_connections");
  note(d0.tls != d1.tls, "delivery.tls");
  note(d0.tls_policy != d1.tls_policy, "delivery.tls_policy");
  note(d0.retry_min != d1.retry_min, "delivery.retry_min");
  note(d0.retry_max != d1.retry_max, "delivery.retry_max");
  note(d0.domain_backoff_min != d1.domain_backoff_min, "delivery.domain_backoff_min");
  note(d0.domain_backoff_max != d1.domain_backoff_max, "delivery.domain_backoff_max");
  note(d0.max_queue_lifetime != d1.max_queue_lifetime, "delivery.max_queue_lifetime");
  note(d0.timeouts != d1.timeouts, "delivery.timeouts");
  note(d0.sendmail != d1.sendmail, "delivery.sendmail");
  note(d0.dsn_relay_host != d1.dsn_relay_host || d0.dsn_relay_port != d1.dsn_relay_port,
       "delivery.dsn_relay");
  note(d0.accounting_log != d1.accounting_log, "delivery.accounting_log");
  note(before.dns != after.dns, "dns");
  note(before.quota != after.quota, "quota");
  note(before.shaping != after.shaping, "shaping");
  return changed;
}

bool applies_on_reload(std::string_view key) {
  static constexpr std::string_view kLive[] = {
      "log.level",
      "delivery.max_connections",
      "delivery.max_connections_per_domain",
      "delivery.max_messages_per_connection",
      "delivery.connection_idle_time",
      "delivery.connection_reuse_time",
      "delivery.max_idle_connections",
      "delivery.tls",
      "delivery.tls_policy",
      "delivery.retry_min",
      "delivery.retry_max",
      "delivery.domain_backoff_min",
      "delivery.domain_backoff_max",
      "delivery.max_queue_lifetime",
      "delivery.timeouts",
      "shaping",
  };
  for (std::string_view live : kLive) {
    if (key == live) return true;
  }
  return false;
}

}  // namespace bulkq
