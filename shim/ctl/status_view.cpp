#include "ctl/status_view.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include "core/utf8.h"
#include "ctl/admin_reply.h"
#include "ctl/json_document.h"
#include "ctl/terminal_text.h"

namespace bulkq {
namespace {

// Reads the members the table needs from one object of the reply; the first missing or
// ill-typed one is remembered as the error, and later reads return placeholders.
class MemberReader {
 public:
  MemberReader(const JsonValue* object, std::string path, std::string& error)
      : object_(object), path_(std::move(path)), error_(error) {}

  std::uint64_t count(std::string_view name) {
    const JsonValue* value = find(name);
    if (value == nullptr) return 0;
    const std::optional<std::uint64_t> number = value->as_uint64();
    if (!number) {
      note(name, "is not a whole number from 0 to 2^64-1");
      return 0;
    }
    return *number;
  }

  std::int64_t signed_count(std::string_view name) {
    const JsonValue* value = find(name);
    if (value == nullptr) return 0;
    const std::optional<std::int64_t> number = value->as_int64();
    if (!number) {
      note(name, "is not a whole number that fits 64 bits");
      return 0;
    }
    return *number;
  }

  bool flag(std::string_view name) {
    const JsonValue* value = find(name);
    if (value == nullptr) return false;
    if (value->kind != JsonValue::Kind::boolean) {
      note(name, "is not true or false");
      return false;
    }
    return value->boolean;
  }

  std::string text(std::string_view name) {
    const JsonValue* value = find(name);
    if (value == nullptr) return {};
    if (value->kind != JsonValue::Kind::string) {
      note(name, "is not a string");
      return {};
    }
    return value->text;
  }

  MemberReader object(std::string_view name) {
    const JsonValue* value = find(name);
    if (value != nullptr && value->kind != JsonValue::Kind::object) {
      note(name, "is not an object");
      value = nullptr;
    }
    return MemberReader(value, path_ + "." + std::string(name), error_);
  }

 private:
  const JsonValue* find(std::string_view name) {
    if (object_ == nullptr) return nullptr;  // reported where the object was looked up
    const JsonValue* value = object_->member(name);
    if (value == nullptr) note(name, "is missing");
    return value;
  }

  void note(std::string_view name, std::string_view problem) {
    if (!error_.empty()) return;
    error_ = "malformed status reply: \"" + path_ + "." + std::string(name) + "\" " +
             std::string(problem);
  }

  const JsonValue* object_;
  std::string path_;
  std::string& error_;
};

struct Row {
  std::string label;
  std::string value;
};

struct Group {
  std::string title;
  std::vector<Row> rows;
};

std::string number(std::uint64_t value) {
  return std::to_string(value);
}

// "2026-11-29 12:00:00 UTC", or the raw number when it is no representable date.
std::string utc_time(std::int64_t unix_seconds) {
  const auto seconds = static_cast<std::time_t>(unix_seconds);
  std::tm fields{};
  if (::gmtime_r(&seconds, &fields) == nullptr) return "@" + std::to_string(unix_seconds);
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%04lld-%02d-%02d %02d:%02d:%02d UTC",
                static_cast<long long>(fields.tm_year) + 1900, fields.tm_mon + 1, fields.tm_mday,
                fields.tm_hour, fields.tm_min, fields.tm_sec);
  return text.data();
}

// "45s", "3m 0s", "1h 2m 3s", "2d 0h 0m 5s".
std::string duration(std::uint64_t seconds) {
  const std::uint64_t days = seconds / 86400;
  const std::uint64_t hours = seconds / 3600 % 24;
  const std::uint64_t minutes = seconds / 60 % 60;
  std::string out;
  if (days > 0) out += std::to_string(days) + "d ";
  if (days > 0 || hours > 0) out += std::to_string(hours) + "h ";
  if (days > 0 || hours > 0 || minutes > 0) out += std::to_string(minutes) + "m ";
  out += std::to_string(seconds % 60) + "s";
  return out;
}

std::string mebibytes(std::uint64_t bytes) {
  std::array<char, 48> text{};
  std::snprintf(text.data(), text.size(), "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  return text.data();
}

std::string memory_text(std::uint64_t used, std::uint64_t limit) {
  if (limit == 0) return mebibytes(used) + " (no limit)";
  // A display figure: a double is exact enough and cannot overflow.
  std::array<char, 32> percent{};
  std::snprintf(percent.data(), percent.size(), "%.0f",
                static_cast<double>(used) * 100.0 / static_cast<double>(limit));
  return mebibytes(used) + " of " + mebibytes(limit) + " (" + percent.data() + "%)";
}

std::string render(const std::vector<Group>& groups) {
  std::size_t width = 0;
  for (const Group& group : groups) {
    for (const Row& row : group.rows)
      width = std::max(width, row.label.size() + 1);
  }
  std::string out;
  for (const Group& group : groups) {
    if (!out.empty()) out += '\n';
    out += group.title;
    out += '\n';
    for (const Row& row : group.rows) {
      out += "  ";
      out += row.label;
      out += ':';
      out.append(width - row.label.size() + 1, ' ');
      out += row.value;
      out += '\n';
    }
  }
  return out;
}

StatusView failure(std::string error) {
  StatusView view;
  view.error = std::move(error);
  return view;
}

}  // namespace

StatusView render_status_view(std::string_view reply) {
  // The same reading of "ok" and "error" as every other command's reply.
  const AdminReplyStatus reply_status = read_admin_reply_status(reply);
  if (!reply_status.ok) return failure(terminal_safe(reply_status.error));
  const JsonDocument document = parse_json_document(reply);
  if (!document.ok()) return failure("malformed reply: " + document.error);

  // read_admin_reply_status has checked the root is an object.
  const JsonValue* status_object = document.root.member("status");
  if (status_object == nullptr || status_object->kind != JsonValue::Kind::object) {
    return failure("malformed status reply: it has no \"status\" object");
  }
  std::string error;
  MemberReader status(status_object, "status", error);

  const std::string version = status.text("version");
  const std::int64_t started_unix = status.signed_count("started_unix");
  const std::uint64_t uptime_seconds = status.count("uptime_seconds");
  const std::uint64_t messages = status.count("messages");
  const std::uint64_t recipients = status.count("recipients");
  const std::uint64_t domains = status.count("domains");
  const std::uint64_t pending_commit = status.count("pending_commit");
  const std::uint64_t diverted_total = status.count("diverted_total");
  const std::uint64_t passed_total = status.count("passed_total");
  const std::uint64_t commit_expired_total = status.count("commit_expired_total");
  MemberReader fail_open = status.object("fail_open");
  const std::uint64_t fail_open_journal = fail_open.count("journal");
  const std::uint64_t fail_open_memory = fail_open.count("memory");
  const std::uint64_t fail_open_handoff = fail_open.count("handoff");
  const std::uint64_t fail_open_spool = fail_open.count("spool");
  const std::uint64_t fail_open_quota = fail_open.count("quota");
  const std::uint64_t fail_open_total = fail_open.count("total");
  const bool journal_ok = status.flag("journal_ok");
  const std::string journal_error = status.text("journal_error");
  const std::uint64_t memory_bytes = status.count("memory_bytes");
  const std::uint64_t memory_limit_bytes = status.count("memory_limit_bytes");
  const std::uint64_t recovered = status.count("recovered_messages");
  const std::uint64_t adopted = status.count("adopted_messages");
  const std::uint64_t dropped = status.count("dropped_records");
  // Delivery figures: absent from a daemon that predates them.
  const bool has_delivery = status_object->member("delivery") != nullptr;
  std::vector<std::pair<std::string, std::string>> delivery_rows;
  if (has_delivery) {
    MemberReader delivery = status.object("delivery");
    const bool enabled = delivery.flag("enabled");
    const std::uint64_t sessions = delivery.count("sessions_open");
    const std::uint64_t idle = delivery.count("connections_idle");
    const std::uint64_t reused = delivery.count("batches_reused");
    const std::uint64_t waiting = delivery.count("waiting_retry");
    const std::uint64_t connections = delivery.count("connections");
    const std::uint64_t transactions = delivery.count("transactions");
    const std::uint64_t sent = delivery.count("sent");
    const std::uint64_t deferred = delivery.count("deferred");
    const std::uint64_t bounced = delivery.count("bounced");
    const std::uint64_t expired = delivery.count("expired");
    const std::uint64_t dsn_sent = delivery.count("dsn_sent");
    const std::uint64_t dsn_failed = delivery.count("dsn_failed");
    const std::uint64_t gone = delivery.count("dropped");
    const std::uint64_t backoffs = delivery.count("domain_backoffs");
    const std::uint64_t dns_entries = delivery.count("dns_cache_entries");
    const std::uint64_t dns_in_flight = delivery.count("dns_lookups_in_flight");
    const std::uint64_t dns_hits = delivery.count("dns_hits");
    const std::uint64_t dns_misses = delivery.count("dns_misses");
    const std::uint64_t dns_stale = delivery.count("dns_stale_served");
    const std::uint64_t dns_waits = delivery.count("batches_waited_on_dns");
    // Shaping figures: absent from a daemon that predates them (count() would call that an
    // error), so read only when there.
    const bool has_shaping = status_object->member("delivery")->member("destinations") != nullptr;
    const std::uint64_t destinations = has_shaping ? delivery.count("destinations") : 0;
    const std::uint64_t backing_off = has_shaping ? delivery.count("destinations_backing_off") : 0;
    const std::uint64_t suspended = has_shaping ? delivery.count("destinations_suspended") : 0;
    const std::uint64_t rate_deferrals = has_shaping ? delivery.count("rate_deferrals") : 0;
    const std::uint64_t busy_holds = has_shaping ? delivery.count("concurrency_holds") : 0;
    const std::uint64_t decreases = has_shaping ? delivery.count("shaping_decreases") : 0;
    const std::uint64_t rule_matches = has_shaping ? delivery.count("rule_matches") : 0;
    const std::string per_connection =
        connections == 0 ? std::string("-")
                         : number(transactions / connections) + "." +
                               std::to_string((transactions * 10 / connections) % 10);
    delivery_rows = {
        {"delivery", enabled ? "on" : "off (delivery.enabled = false)"},
        {"sessions open", number(sessions)},
        {"idle conns", number(idle)},
        {"waiting retry", number(waiting)},
        {"connections", number(connections)},
        {"batches reused", number(reused)},
        {"transactions", number(transactions)},
        {"per connection", per_connection},
        {"sent", number(sent)},
        {"deferred", number(deferred)},
        {"bounced", number(bounced)},
        {"  expired", number(expired)},
        {"DSNs sent", number(dsn_sent)},
        {"DSNs failed", number(dsn_failed)},
        {"file gone", number(gone)},
        {"backoffs", number(backoffs)},
        {"DNS cached", number(dns_entries)},
        {"DNS lookups", number(dns_in_flight)},
        {"DNS hit/miss", number(dns_hits) + " / " + number(dns_misses)},
        {"DNS stale", number(dns_stale)},
        {"waited on DNS", number(dns_waits)},
    };
    if (has_shaping) {
      delivery_rows.insert(
          delivery_rows.end(),
          {{"destinations", number(destinations) + " (" + number(backing_off) + " backing off, " +
                                number(suspended) + " suspended)"},
           {"rate waits", number(rate_deferrals)},
           {"busy holds", number(busy_holds)},
           {"slow-downs", number(decreases)},
           {"rule matches", number(rule_matches)}});
    }
  }
  const bool has_volume = status_object->member("volume") != nullptr;
  std::vector<std::pair<std::string, std::string>> volume_rows;
  if (has_volume) {
    MemberReader volume = status.object("volume");
    const std::string period = volume.text("period");
    const std::uint64_t counted_messages = volume.count("messages");
    const std::uint64_t counted_recipients = volume.count("recipients");
    const std::uint64_t messages_limit = volume.count("messages_limit");
    const std::uint64_t recipients_limit = volume.count("recipients_limit");
    const std::uint64_t sender_domains = volume.count("sender_domains");
    const std::string action = volume.text("action");
    const std::uint64_t tempfailed = volume.count("tempfailed");
    const auto of_limit = [](std::uint64_t count, std::uint64_t limit) {
      return number(count) + (limit == 0 ? std::string(" (no limit)") : " of " + number(limit));
    };
    volume_rows = {
        {"period", period.empty() ? "-" : terminal_safe(period)},
        {"messages", of_limit(counted_messages, messages_limit)},
        {"recipients", of_limit(counted_recipients, recipients_limit)},
        {"sender domains", number(sender_domains)},
        {"over: action", action.empty() ? "-" : terminal_safe(action)},
        {"tempfailed", number(tempfailed)},
    };
  }
  if (!error.empty()) return failure(std::move(error));

  std::string journal = "ok";
  if (!journal_ok) {
    journal = journal_error.empty() ? "error" : "error: " + terminal_safe(journal_error);
  }
  const std::vector<Group> groups = {
      {"bulkqd",
       {
           {"version", version.empty() ? "unknown" : terminal_safe(version)},
           {"started", started_unix > 0 ? utc_time(started_unix) : "unknown"},
           {"uptime", duration(uptime_seconds)},
       }},
      {"Queue",
       {
           {"messages", number(messages)},
           {"recipients", number(recipients)},
           {"domains", number(domains)},
           {"pending commit", number(pending_commit)},
       }},
      {"Totals since start",
       {
           {"diverted", number(diverted_total)},
           {"passed", number(passed_total)},
           {"commit expired", number(commit_expired_total)},
           {"fail open", number(fail_open_total)},
           {"  journal", number(fail_open_journal)},
           {"  memory", number(fail_open_memory)},
           {"  handoff", number(fail_open_handoff)},
           {"  spool", number(fail_open_spool)},
           {"  quota", number(fail_open_quota)},
       }},
      {"Health",
       {
           {"journal", journal},
           {"memory", memory_text(memory_bytes, memory_limit_bytes)},
       }},
      {"Recovery at start",
       {
           {"recovered", number(recovered)},
           {"adopted", number(adopted)},
           {"dropped", number(dropped)},
       }},
  };
  std::vector<Group> all_groups = groups;
  if (has_delivery) {
    Group delivery_group{"Delivery", {}};
    for (auto& [label, value] : delivery_rows)
      delivery_group.rows.push_back({label, value});
    all_groups.insert(all_groups.begin() + 2, std::move(delivery_group));
  }
  if (has_volume) {
    Group volume_group{"Volume", {}};
    for (auto& [label, value] : volume_rows)
      volume_group.rows.push_back({label, value});
    all_groups.insert(all_groups.end() - 2, std::move(volume_group));
  }
  StatusView view;
  view.text = render(all_groups);
  return view;
}

}  // namespace bulkq
