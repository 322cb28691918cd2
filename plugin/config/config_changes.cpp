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
  note(before.delivery != after.delivery, "delivery");
  note(before.dns != after.dns, "dns");
  note(before.quota != after.quota, "quota");
  return changed;
}

}  // namespace bulkq
