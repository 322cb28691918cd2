#include "admin/domain_report.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "admin/json_object_writer.h"
#include "admin/json_string.h"

namespace bulkq {
namespace {

std::int64_t seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

void append_row(std::string& out, const QueueRow& row) {
  out += '{';
  json_member(out, "domain", std::string_view(row.domain));
  json_member(out, "waiting", row.waiting);
  json_member(out, "in_flight", row.in_flight);
  json_member(out, "age_seconds", row.age_seconds);
  json_member(out, "oldest_seconds", row.oldest_seconds);
  json_member(out, "backoff_seconds", row.backoff_seconds);
  json_member(out, "paused", row.paused);
  json_member(out, "rate", std::optional<double>(row.rate));
  json_close(out, '}');
}

}  // namespace

QueueRow queue_row(const DomainQueue& queue, TimePoint now) {
  QueueRow row;
  row.domain = std::string(queue.domain());
  row.waiting = queue.size();
  row.in_flight = queue.in_flight();
  row.age_seconds = std::max<std::int64_t>(0, seconds_between(queue.created(), now));
  if (queue.size() > 0) {
    const std::int64_t now_s = unix_seconds32(now);
    row.oldest_seconds = std::max<std::int64_t>(0, now_s - queue.oldest_enqueued());
  }
  row.backoff_seconds = std::max<std::int64_t>(0, seconds_between(now, queue.next_attempt()));
  row.paused = queue.paused();
  return row;
}

namespace {

// Prometheus label values: backslash, double quote and newline escaped.
std::string label_value(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// One gauge with a series per domain row.
template <typename Value>
void domain_series(std::string& out, std::string_view metric_name, std::string_view help,
                   const std::vector<QueueRow>& rows, Value value) {
  out += "# HELP ";
  out += metric_name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += metric_name;
  out += " gauge\n";
  for (const QueueRow& row : rows) {
    out += metric_name;
    out += "{domain=\"" + label_value(row.domain) + "\"} " + value(row) + '\n';
  }
}

void metric(std::string& out, std::string_view metric_name, std::string_view type,
            std::string_view help, std::uint64_t value) {
  out += "# HELP ";
  out += metric_name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += metric_name;
  out += ' ';
  out += type;
  out += '\n';
  out += metric_name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

namespace {
// `"dns":{…}` (no trailing comma).
void append_dns(std::string& out, const DomainReport& report);
}  // namespace

std::vector<QueueRow> queue_rows(const QueueMap& queues, TimePoint now, std::uint32_t top,
                                 QueueOrder order,
                                 const std::function<double(std::string_view)>& rate_of) {
  std::vector<QueueRow> rows;
  rows.reserve(queues.queue_count());
  queues.for_each_queue([&](const DomainQueue& queue) {
    rows.push_back(queue_row(queue, now));
    if (rate_of) rows.back().rate = rate_of(queue.domain());
  });
  const auto before = [order](const QueueRow& a, const QueueRow& b) {
    if (order == QueueOrder::rate) {
      if (a.rate != b.rate) return a.rate > b.rate;
    } else if (order == QueueOrder::age) {
      if (a.oldest_seconds != b.oldest_seconds) return a.oldest_seconds > b.oldest_seconds;
    } else {
      const std::uint64_t size_a = a.waiting + a.in_flight;
      const std::uint64_t size_b = b.waiting + b.in_flight;
      if (size_a != size_b) return size_a > size_b;
    }
    return a.domain < b.domain;
  };
  if (top != 0 && top < rows.size()) {
    std::partial_sort(rows.begin(), rows.begin() + top, rows.end(), before);
    rows.resize(top);
  } else {
    std::sort(rows.begin(), rows.end(), before);
  }
  return rows;
}

std::string queues_reply_json(const std::vector<QueueRow>& rows, std::uint64_t total_queues) {
  std::string out = R"({"ok":true,)";
  json_member(out, "queues", total_queues);
  json_name(out, "shown");
  out += '[';
  for (const QueueRow& row : rows) {
    append_row(out, row);
    out += ',';
  }
  json_close(out, ']');
  out += '}';
  return out;
}

std::string domain_reply_json(const DomainReport& report) {
  std::string out = R"({"ok":true,"domain":{)";
  json_member(out, "name", std::string_view(report.domain));
  json_name(out, "queue");
  if (report.queue) {
    append_row(out, *report.queue);
  } else {
    out += "null";
  }
  out += ',';
  json_member(out, "paused", report.paused);
  json_member(out, "sessions_open", std::uint64_t{report.sessions_open});
  json_member(out, "waiting_retry", report.waiting_retry);
  json_member(out, "next_retry_seconds", report.next_retry_seconds);
  json_member(out, "consecutive_failures", std::uint64_t{report.consecutive_failures});
  json_name(out, "last_replies");
  out += '[';
  for (const std::string& line : report.last_replies) {
    append_json_string(out, line);
    out += ',';
  }
  json_close(out, ']');
  out += ',';
  append_dns(out, report);
  out += ',';
  json_name(out, "shaping");
  if (report.shaping) {
    const DomainShapingReport& s = *report.shaping;
    out += '{';
    json_member(out, "destination", std::string_view(s.destination));
    json_member(out, "policy", std::string_view(s.policy));
    json_member(out, "adaptive", s.adaptive);
    json_member(out, "state", std::string_view(s.state));
    json_member(out, "sessions", std::uint64_t{s.sessions});
    json_member(out, "members", std::uint64_t{s.members});
    json_member(out, "concurrency", std::uint64_t{s.concurrency});
    json_member(out, "max_connections", std::uint64_t{s.max_connections});
    json_member(out, "rate", s.rate);
    json_member(out, "max_rate", s.max_rate);
    json_member(out, "deferred_share", std::optional<double>(s.deferred_share));
    json_member(out, "window_transactions", std::uint64_t{s.window_transactions});
    json_member(out, "mean_latency_ms", s.mean_latency_ms);
    json_member(out, "suspended_seconds", s.suspended_seconds);
    json_member(out, "decreases", s.decreases);
    json_member(out, "increases", s.increases);
    json_close(out, '}');
  } else {
    out += "null";
  }
  out += "}}";
  return out;
}

std::string dns_reply_json(const DomainReport& report) {
  std::string out = R"({"ok":true,)";
  json_member(out, "domain", std::string_view(report.domain));
  append_dns(out, report);
  out += '}';
  return out;
}

namespace {
void append_dns(std::string& out, const DomainReport& report) {
  json_name(out, "dns");
  out += '{';
  json_member(out, "state", std::string_view(report.dns_state));
  json_member(out, "status", std::string_view(report.dns_status));
  json_member(out, "reason", std::string_view(report.dns_reason));
  json_member(out, "age_seconds", report.dns_age_seconds);
  json_member(out, "expires_in_seconds", report.dns_expires_in_seconds);
  json_name(out, "hosts");
  out += '[';
  for (const DomainDnsHost& host : report.dns_hosts) {
    out += '{';
    json_member(out, "name", std::string_view(host.name));
    json_member(out, "preference", std::uint64_t{host.preference});
    json_name(out, "addresses");
    out += '[';
    for (const std::string& address : host.addresses) {
      append_json_string(out, address);
      out += ',';
    }
    json_close(out, ']');
    out += '}';
    out += ',';
  }
  json_close(out, ']');
  out += '}';
}

}  // namespace

std::vector<MessageRow> queued_messages(const DomainQueue& queue, const MessageTable& messages,
                                        TimePoint now) {
  std::vector<MessageRow> rows;
  std::unordered_map<MessageIndex, std::size_t> row_of_message;
  const std::int64_t now_s = unix_seconds32(now);
  const NodeRing& nodes = queue.nodes();
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    const DataNode& node = nodes[i];
    const auto [it, added] = row_of_message.emplace(node.message, rows.size());
    if (added) {
      const MessageRecord& record = messages[node.message];
      MessageRow row;
      row.queue_id = std::string(record.spool().queue_id);
      row.id = record.id();
      row.sender = std::string(record.sender());
      row.waiting_seconds = std::max<std::int64_t>(0, now_s - node.enqueued);
      rows.push_back(std::move(row));
    }
    MessageRow& row = rows[it->second];
    ++row.recipients;
    row.attempts = std::max<std::uint64_t>(row.attempts, node.attempts);
    row.waiting_seconds = std::max<std::int64_t>(row.waiting_seconds,
                                                 std::max<std::int64_t>(0, now_s - node.enqueued));
  }
  return rows;
}

std::string messages_reply_json(std::string_view domain, const std::vector<MessageRow>& rows,
                                std::uint32_t page) {
  const std::uint64_t pages = (rows.size() + kMessagesPerPage - 1) / kMessagesPerPage;
  const std::uint64_t shown_page = page == 0 ? 1 : page;
  std::string out = R"({"ok":true,)";
  json_member(out, "domain", domain);
  json_member(out, "messages", std::uint64_t{rows.size()});
  json_member(out, "page", shown_page);
  json_member(out, "pages", pages);
  json_name(out, "shown");
  out += '[';
  const std::uint64_t first = (shown_page - 1) * kMessagesPerPage;
  for (std::uint64_t i = first; i < rows.size() && i < first + kMessagesPerPage; ++i) {
    const MessageRow& row = rows[i];
    out += '{';
    json_member(out, "queue_id", std::string_view(row.queue_id));
    json_member(out, "id", row.id);
    json_member(out, "sender", std::string_view(row.sender));
    json_member(out, "recipients", row.recipients);
    json_member(out, "attempts", row.attempts);
    json_member(out, "waiting_seconds", row.waiting_seconds);
    json_close(out, '}');
    out += ',';
  }
  json_close(out, ']');
  out += '}';
  return out;
}

std::string done_reply_json(std::string_view message) {
  std::string out = R"({"ok":true,"message":)";
  append_json_string(out, message);
  out += '}';
  return out;
}

std::string metrics_text(const EngineStatus& s, const std::vector<QueueRow>& top) {
  std::string out;
  out.reserve(4096 + top.size() * 200);
  metric(out, "bulkq_uptime_seconds", "gauge", "Seconds since bulkqd started.", s.uptime_seconds);
  metric(out, "bulkq_messages", "gauge", "Held messages in the queue map.", s.messages);
  metric(out, "bulkq_recipients", "gauge", "Recipients not yet finished.", s.recipients);
  metric(out, "bulkq_domain_queues", "gauge", "Destination domain queues.", s.domains);
  metric(out, "bulkq_pending_commit", "gauge", "Diverted messages the MTA has not committed yet.",
         s.pending_commit);
  metric(out, "bulkq_diverted_total", "counter", "Bulk messages taken over.", s.diverted_total);
  metric(out, "bulkq_passed_total", "counter", "Messages left to the MTA (not bulk).",
         s.passed_total);
  out += "# HELP bulkq_fail_open_total Bulk messages let through to the MTA, by reason.\n";
  out += "# TYPE bulkq_fail_open_total counter\n";
  const std::pair<const char*, std::uint64_t> reasons[] = {{"journal", s.fail_open.journal},
                                                           {"memory", s.fail_open.memory},
                                                           {"handoff", s.fail_open.handoff},
                                                           {"spool", s.fail_open.spool},
                                                           {"quota", s.fail_open.quota}};
  for (const auto& [reason, count] : reasons) {
    out += "bulkq_fail_open_total{reason=\"";
    out += reason;
    out += "\"} " + std::to_string(count) + '\n';
  }
  metric(out, "bulkq_journal_ok", "gauge", "1 while the recovery journal is writable.",
         s.journal_ok ? 1 : 0);
  metric(out, "bulkq_memory_bytes", "gauge", "Estimated engine memory.", s.memory_bytes);
  const DeliveryStatus& d = s.delivery;
  metric(out, "bulkq_sessions_open", "gauge", "SMTP sessions carrying a batch.", d.sessions_open);
  metric(out, "bulkq_connections_idle", "gauge", "SMTP connections kept open, idle.",
         d.connections_idle);
  metric(out, "bulkq_waiting_retry", "gauge", "Recipients waiting out their own retry delay.",
         d.waiting_retry);
  metric(out, "bulkq_connections_total", "counter", "SMTP connections opened.", d.connections);
  metric(out, "bulkq_transactions_total", "counter", "SMTP transactions with a final reply.",
         d.transactions);
  out += "# HELP bulkq_recipients_total Recipient outcomes, by outcome.\n";
  out += "# TYPE bulkq_recipients_total counter\n";
  const std::pair<const char*, std::uint64_t> outcomes[] = {{"sent", d.sent},
                                                            {"deferred", d.deferred},
                                                            {"bounced", d.bounced},
                                                            {"expired", d.expired},
                                                            {"dropped", d.dropped}};
  for (const auto& [outcome, count] : outcomes) {
    out += "bulkq_recipients_total{outcome=\"";
    out += outcome;
    out += "\"} " + std::to_string(count) + '\n';
  }
  metric(out, "bulkq_dsn_sent_total", "counter", "DSNs handed to the MTA.", d.dsn_sent);
  metric(out, "bulkq_domain_backoffs_total", "counter", "Domain backoffs started.",
         d.domain_backoffs);
  metric(out, "bulkq_dns_cache_entries", "gauge", "Domains in the DNS cache.", d.dns_cache_entries);
  metric(out, "bulkq_batches_waited_on_dns_total", "counter", "Batches that waited for DNS.",
         d.batches_waited_on_dns);
  metric(out, "bulkq_destinations", "gauge", "Destinations (connection budgets) known.",
         d.destinations);
  metric(out, "bulkq_destinations_backing_off", "gauge",
         "Destinations whose controller last slowed them down.", d.destinations_backing_off);
  metric(out, "bulkq_destinations_suspended", "gauge", "Destinations stopped by a response rule.",
         d.destinations_suspended);
  metric(out, "bulkq_rate_deferrals_total", "counter",
         "Batches put back for a destination's rate or suspension.", d.rate_deferrals);
  metric(out, "bulkq_concurrency_holds_total", "counter",
         "Batches put back because the destination's connections were all busy.",
         d.concurrency_holds);
  metric(out, "bulkq_shaping_decreases_total", "counter",
         "Decisions that slowed a destination down.", d.shaping_decreases);
  metric(out, "bulkq_response_rule_matches_total", "counter",
         "Destination replies a response rule matched.", d.rule_matches);
  const VolumeStatus& v = s.volume;
  metric(out, "bulkq_volume_messages", "gauge", "Bulk messages counted this quota period.",
         v.messages);
  metric(out, "bulkq_volume_recipients", "gauge", "Bulk recipients counted this quota period.",
         v.recipients);
  metric(out, "bulkq_volume_messages_limit", "gauge", "Messages allowed per period (0: none).",
         v.messages_limit);
  metric(out, "bulkq_volume_recipients_limit", "gauge", "Recipients allowed per period (0: none).",
         v.recipients_limit);
  metric(out, "bulkq_volume_tempfailed_total", "counter",
         "Bulk messages refused past a volume limit.", v.tempfailed);
  domain_series(out, "bulkq_domain_queued", "Recipients waiting, per domain (the largest queues).",
                top, [](const QueueRow& row) { return std::to_string(row.waiting); });
  domain_series(out, "bulkq_domain_in_flight", "Recipients out in batches, per domain.", top,
                [](const QueueRow& row) { return std::to_string(row.in_flight); });
  domain_series(out, "bulkq_domain_oldest_seconds", "How long the head recipient has waited.", top,
                [](const QueueRow& row) { return std::to_string(row.oldest_seconds); });
  return out;
}

std::string metrics_reply_json(std::string_view text) {
  std::string out = R"({"ok":true,"metrics":)";
  append_json_string(out, text);
  out += '}';
  return out;
}

}  // namespace bulkq
