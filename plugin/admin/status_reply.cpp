#include "admin/status_reply.h"

#include <cstdint>

#include "admin/json_string.h"

namespace bulkq {
namespace {

// Appends `"name":` — every name here is a literal needing no escape.
void name(std::string& out, std::string_view member) {
  out += '"';
  out += member;
  out += "\":";
}

void member(std::string& out, std::string_view member_name, std::uint64_t value) {
  name(out, member_name);
  out += std::to_string(value);
  out += ',';
}

void member(std::string& out, std::string_view member_name, std::int64_t value) {
  name(out, member_name);
  out += std::to_string(value);
  out += ',';
}

void member(std::string& out, std::string_view member_name, bool value) {
  name(out, member_name);
  out += value ? "true" : "false";
  out += ',';
}

void member(std::string& out, std::string_view member_name, std::string_view value) {
  name(out, member_name);
  append_json_string(out, value);
  out += ',';
}

// Replaces the ',' after the last member with the closing brace.
void close_object(std::string& out) {
  out.back() = '}';
}

}  // namespace

std::string status_reply_json(const EngineStatus& status) {
  std::string out = R"({"ok":true,"status":{)";
  member(out, "version", std::string_view(status.version));
  member(out, "started_unix", status.started_unix);
  member(out, "uptime_seconds", status.uptime_seconds);
  member(out, "messages", status.messages);
  member(out, "recipients", status.recipients);
  member(out, "domains", status.domains);
  member(out, "pending_commit", status.pending_commit);
  member(out, "diverted_total", status.diverted_total);
  member(out, "passed_total", status.passed_total);
  member(out, "commit_expired_total", status.commit_expired_total);
  name(out, "fail_open");
  out += '{';
  member(out, "journal", status.fail_open.journal);
  member(out, "memory", status.fail_open.memory);
  member(out, "handoff", status.fail_open.handoff);
  member(out, "spool", status.fail_open.spool);
  member(out, "quota", status.fail_open.quota);
  member(out, "total", status.fail_open.total());
  close_object(out);
  out += ',';
  member(out, "journal_ok", status.journal_ok);
  member(out, "journal_error", std::string_view(status.journal_error));
  member(out, "memory_bytes", status.memory_bytes);
  member(out, "memory_limit_bytes", status.memory_limit_bytes);
  member(out, "recovered_messages", status.recovered_messages);
  member(out, "adopted_messages", status.adopted_messages);
  member(out, "dropped_records", status.dropped_records);
  const DeliveryStatus& d = status.delivery;
  name(out, "delivery");
  out += '{';
  member(out, "enabled", d.enabled);
  member(out, "sessions_open", d.sessions_open);
  member(out, "connections_idle", d.connections_idle);
  member(out, "waiting_retry", d.waiting_retry);
  member(out, "connections", d.connections);
  member(out, "batches_reused", d.batches_reused);
  member(out, "transactions", d.transactions);
  member(out, "sent", d.sent);
  member(out, "deferred", d.deferred);
  member(out, "bounced", d.bounced);
  member(out, "expired", d.expired);
  member(out, "dsn_sent", d.dsn_sent);
  member(out, "dsn_failed", d.dsn_failed);
  member(out, "dropped", d.dropped);
  member(out, "domain_backoffs", d.domain_backoffs);
  member(out, "dns_cache_entries", d.dns_cache_entries);
  member(out, "dns_lookups_in_flight", d.dns_lookups_in_flight);
  member(out, "dns_hits", d.dns_hits);
  member(out, "dns_misses", d.dns_misses);
  member(out, "dns_stale_served", d.dns_stale_served);
  member(out, "batches_waited_on_dns", d.batches_waited_on_dns);
  close_object(out);
  out += ',';
  const VolumeStatus& v = status.volume;
  name(out, "volume");
  out += '{';
  member(out, "period", std::string_view(v.period));
  member(out, "messages", v.messages);
  member(out, "recipients", v.recipients);
  member(out, "messages_limit", v.messages_limit);
  member(out, "recipients_limit", v.recipients_limit);
  member(out, "sender_domains", v.sender_domains);
  member(out, "action", std::string_view(v.action));
  member(out, "tempfailed", v.tempfailed);
  close_object(out);
  out += ',';
  close_object(out);
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
