#include "admin/status_reply.h"

#include <cstdint>

#include "admin/json_object_writer.h"
#include "admin/json_string.h"

namespace bulkq {
std::string status_reply_json(const EngineStatus& status) {
  std::string out = R"({"ok":true,"status":{)";
  json_member(out, "version", std::string_view(status.version));
  json_member(out, "started_unix", status.started_unix);
  json_member(out, "uptime_seconds", status.uptime_seconds);
  json_member(out, "messages", status.messages);
  json_member(out, "recipients", status.recipients);
  json_member(out, "domains", status.domains);
  json_member(out, "pending_commit", status.pending_commit);
  json_member(out, "diverted_total", status.diverted_total);
  json_member(out, "passed_total", status.passed_total);
  json_member(out, "commit_expired_total", status.commit_expired_total);
  json_name(out, "fail_open");
  out += '{';
  json_member(out, "journal", status.fail_open.journal);
  json_member(out, "memory", status.fail_open.memory);
  json_member(out, "handoff", status.fail_open.handoff);
  json_member(out, "spool", status.fail_open.spool);
  json_member(out, "quota", status.fail_open.quota);
  json_member(out, "total", status.fail_open.total());
  json_close(out, '}');
  out += ',';
  json_member(out, "journal_ok", status.journal_ok);
  json_member(out, "journal_error", std::string_view(status.journal_error));
  json_member(out, "memory_bytes", status.memory_bytes);
  json_member(out, "memory_limit_bytes", status.memory_limit_bytes);
  json_member(out, "recovered_messages", status.recovered_messages);
  json_member(out, "adopted_messages", status.adopted_messages);
  json_member(out, "dropped_records", status.dropped_records);
  const DeliveryStatus& d = status.delivery;
  json_name(out, "delivery");
  out += '{';
  json_member(out, "enabled", d.enabled);
  json_member(out, "sessions_open", d.sessions_open);
  json_member(out, "connections_idle", d.connections_idle);
  json_member(out, "waiting_retry", d.waiting_retry);
  json_member(out, "connections", d.connections);
  json_member(out, "batches_reused", d.batches_reused);
  json_member(out, "transactions", d.transactions);
  json_member(out, "sent", d.sent);
  json_member(out, "deferred", d.deferred);
  json_member(out, "bounced", d.bounced);
  json_member(out, "expired", d.expired);
  json_member(out, "dsn_sent", d.dsn_sent);
  json_member(out, "dsn_failed", d.dsn_failed);
  json_member(out, "dropped", d.dropped);
  json_member(out, "domain_backoffs", d.domain_backoffs);
  json_member(out, "dns_cache_entries", d.dns_cache_entries);
  json_member(out, "dns_lookups_in_flight", d.dns_lookups_in_flight);
  json_member(out, "dns_hits", d.dns_hits);
  json_member(out, "dns_misses", d.dns_misses);
  json_member(out, "dns_stale_served", d.dns_stale_served);
  json_member(out, "batches_waited_on_dns", d.batches_waited_on_dns);
  json_member(out, "destinations", d.destinations);
  json_member(out, "destinations_backing_off", d.destinations_backing_off);
  json_member(out, "destinations_suspended", d.destinations_suspended);
  json_member(out, "rate_deferrals", d.rate_deferrals);
  json_member(out, "concurrency_holds", d.concurrency_holds);
  json_member(out, "shaping_decreases", d.shaping_decreases);
  json_member(out, "rule_matches", d.rule_matches);
  json_close(out, '}');
  out += ',';
  const VolumeStatus& v = status.volume;
  json_name(out, "volume");
  out += '{';
  json_member(out, "period", std::string_view(v.period));
  json_member(out, "messages", v.messages);
  json_member(out, "recipients", v.recipients);
  json_member(out, "messages_limit", v.messages_limit);
  json_member(out, "recipients_limit", v.recipients_limit);
  json_member(out, "sender_domains", v.sender_domains);
  json_member(out, "action", std::string_view(v.action));
  json_member(out, "tempfailed", v.tempfailed);
  json_close(out, '}');
  out += ',';
  json_close(out, '}');
  out += '}';
  return out;
}

std::string error_reply_json(std::string_view error) {
  std::string out = R"({"ok":false,"error":)";
  append_json_string(out, error);
  out += '}';
  return out;
}

}  // namespace bulkq
