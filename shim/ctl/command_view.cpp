#include "ctl/command_view.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "ctl/json_document.h"
#include "ctl/terminal_text.h"

namespace bulkq {
namespace {

StatusView failure(std::string error) {
  StatusView view;
  view.error = std::move(error);
  return view;
}

// Reads members, noting the first missing or ill-typed one.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  const JsonValue* need(const JsonValue* object, std::string_view name, JsonValue::Kind kind,
                        std::string_view path) {
    const JsonValue* value = object == nullptr ? nullptr : object->member(name);
    if (value == nullptr || value->kind != kind) {
      if (error_.empty()) {
        error_ = "malformed reply: " + std::string(path) + "." + std::string(name) +
                 (value == nullptr ? " is missing" : " has the wrong type");
      }
      return nullptr;
    }
    return value;
  }
  std::string text(const JsonValue* object, std::string_view name, std::string_view path) {
    const JsonValue* value = need(object, name, JsonValue::Kind::string, path);
    return value == nullptr ? std::string() : terminal_safe(value->text);
  }
  // A number as the reply spelt it (fractions too), or `absent` when it is null.
  std::string decimal(const JsonValue* object, std::string_view name, std::string_view path,
                      std::string_view absent) {
    const JsonValue* value = object == nullptr ? nullptr : object->member(name);
    if (value != nullptr && value->kind == JsonValue::Kind::null) return std::string(absent);
    value = need(object, name, JsonValue::Kind::number, path);
    return value == nullptr ? std::string() : terminal_safe(value->text);
  }
  std::string number(const JsonValue* object, std::string_view name, std::string_view path) {
    const JsonValue* value = need(object, name, JsonValue::Kind::number, path);
    if (value == nullptr) return {};
    if (const std::optional<std::int64_t> n = value->as_int64()) return std::to_string(*n);
    if (const std::optional<std::uint64_t> n = value->as_uint64()) return std::to_string(*n);
    if (error_.empty())
      error_ = "malformed reply: " + std::string(path) + "." + std::string(name) +
               " is not a whole number";
    return {};
  }
  bool flag(const JsonValue* object, std::string_view name, std::string_view path) {
    const JsonValue* value = need(object, name, JsonValue::Kind::boolean, path);
    return value != nullptr && value->boolean;
  }

 private:
  std::string& error_;
};

// "12.3" of a JSON number's spelling; the text itself when it is not a plain number.
std::string one_decimal(const std::string& number) {
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !(value >= 0 && value < 1e12))
    return number.empty() ? std::string("-") : number;
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

std::string seconds_text(const std::string& seconds) {
  return seconds.empty() || seconds == "0" ? "-" : seconds + "s";
}

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

StatusView queues_view(const JsonValue& root, Reader& read, std::string& error) {
  const JsonValue* shown = read.need(&root, "shown", JsonValue::Kind::array, "reply");
  const std::string total = read.number(&root, "queues", "reply");
  if (!error.empty()) return failure(error);
  struct Line {
    std::string domain, waiting, in_flight, rate, oldest, backoff;
    bool paused = false;
  };
  std::vector<Line> lines;
  for (const JsonValue& row : shown->elements) {
    Line line;
    line.domain = read.text(&row, "domain", "shown[]");
    line.waiting = read.number(&row, "waiting", "shown[]");
    line.in_flight = read.number(&row, "in_flight", "shown[]");
    // Absent from a daemon that predates it.
    line.rate = row.member("rate") == nullptr
                    ? std::string("-")
                    : one_decimal(read.decimal(&row, "rate", "shown[]", "-"));
    line.oldest = seconds_text(read.number(&row, "oldest_seconds", "shown[]"));
    line.backoff = seconds_text(read.number(&row, "backoff_seconds", "shown[]"));
    line.paused = read.flag(&row, "paused", "shown[]");
    if (!error.empty()) return failure(error);
    lines.push_back(std::move(line));
  }
  std::size_t width = 6;
  for (const Line& line : lines)
    width = std::max(width, line.domain.size());
  StatusView view;
  view.text = pad("DOMAIN", width) + "  WAITING  IN FLIGHT  RATE/S  OLDEST   BACKOFF\n";
  for (const Line& line : lines) {
    view.text += pad(line.domain, width) + "  " + pad(line.waiting, 7) + "  " +
                 pad(line.in_flight, 9) + "  " + pad(line.rate, 6) + "  " + pad(line.oldest, 7) +
                 "  " + pad(line.backoff, 7) + (line.paused ? "  paused" : "") + '\n';
    // Trailing spaces of the last column are not worth keeping.
    while (view.text.size() >= 2 && view.text[view.text.size() - 2] == ' ') {
      view.text.erase(view.text.size() - 2, 1);
    }
  }
  view.text += std::to_string(lines.size()) + " of " + total + " queue(s)\n";
  return view;
}

void dns_lines(const JsonValue* dns, Reader& read, std::string& out) {
  const std::string state = read.text(dns, "state", "dns");
  out += "dns:             " + state;
  if (state == "fresh" || state == "stale") {
    out += " (" + read.text(dns, "status", "dns");
    const std::string reason = read.text(dns, "reason", "dns");
    if (!reason.empty()) out += ": " + reason;
    out += "; resolved " + read.number(dns, "age_seconds", "dns") + "s ago, expires in " +
           read.number(dns, "expires_in_seconds", "dns") + "s)";
  }
  out += '\n';
  const JsonValue* hosts = read.need(dns, "hosts", JsonValue::Kind::array, "dns");
  if (hosts == nullptr) return;
  for (const JsonValue& host : hosts->elements) {
    out += "  " + read.text(&host, "name", "dns.hosts[]") + " (preference " +
           read.number(&host, "preference", "dns.hosts[]") + "):";
    const JsonValue* addresses =
        read.need(&host, "addresses", JsonValue::Kind::array, "dns.hosts[]");
    if (addresses == nullptr) return;
    for (const JsonValue& address : addresses->elements) {
      out += ' ';
      out += address.kind == JsonValue::Kind::string ? terminal_safe(address.text) : "?";
    }
    if (addresses->elements.empty()) out += " (no address)";
    out += '\n';
  }
}

// The destination's shaping state; one line when the domain was never sent to.
void shaping_lines(const JsonValue* shaping, Reader& read, std::string& out) {
  if (shaping == nullptr || shaping->kind != JsonValue::Kind::object) {
    out += "shaping:         none yet (nothing sent)\n";
    return;
  }
  const std::string_view at = "domain.shaping";
  const std::string policy = read.text(shaping, "policy", at);
  out += "shaping:         " + read.text(shaping, "state", at) +
         (read.flag(shaping, "adaptive", at) ? " (adaptive" : " (static limits") +
         (policy.empty() ? std::string(", defaults)") : ", policy " + policy + ")") + '\n';
  out += "  destination:   " + read.text(shaping, "destination", at) + " (" +
         read.number(shaping, "members", at) + " domain(s))\n";
  out += "  connections:   " + read.number(shaping, "sessions", at) + " open, " +
         read.number(shaping, "concurrency", at) + " allowed, at most " +
         read.number(shaping, "max_connections", at) + '\n';
  const auto rate = [&](std::string_view name) {
    const std::string value = read.decimal(shaping, name, at, "");
    return value.empty() ? std::string("unlimited") : value + " msg/s";
  };
  out += "  rate:          " + rate("rate") + " (at most " + rate("max_rate") + ")\n";
  out += "  window:        " + read.number(shaping, "window_transactions", at) +
         " transaction(s), 4xx share " + read.decimal(shaping, "deferred_share", at, "-") +
         ", latency " + read.number(shaping, "mean_latency_ms", at) + " ms\n";
  const std::string suspended = read.number(shaping, "suspended_seconds", at);
  if (!suspended.empty() && suspended != "-1") out += "  suspended:     " + suspended + "s more\n";
  out += "  decisions:     " + read.number(shaping, "decreases", at) + " slower, " +
         read.number(shaping, "increases", at) + " faster\n";
}

StatusView domain_view(const JsonValue& root, Reader& read, std::string& error) {
  const JsonValue* domain = read.need(&root, "domain", JsonValue::Kind::object, "reply");
  if (!error.empty()) return failure(error);
  StatusView view;
  std::string& out = view.text;
  out += "domain:          " + read.text(domain, "name", "domain") + '\n';
  const JsonValue* queue = domain->member("queue");
  if (queue == nullptr || queue->kind != JsonValue::Kind::object) {
    out += "queue:           none (nothing waits)\n";
  } else {
    out += "waiting:         " + read.number(queue, "waiting", "domain.queue") + '\n';
    out += "in flight:       " + read.number(queue, "in_flight", "domain.queue") + '\n';
    out += "queue age:       " + seconds_text(read.number(queue, "age_seconds", "domain.queue")) +
           '\n';
    out +=
        "oldest waits:    " + seconds_text(read.number(queue, "oldest_seconds", "domain.queue")) +
        '\n';
    out +=
        "backoff:         " + seconds_text(read.number(queue, "backoff_seconds", "domain.queue")) +
        '\n';
  }
  out += std::string("paused:          ") + (read.flag(domain, "paused", "domain") ? "yes" : "no") +
         '\n';
  out += "sessions open:   " + read.number(domain, "sessions_open", "domain") + '\n';
  out += "waiting retry:   " + read.number(domain, "waiting_retry", "domain");
  const std::string next = read.number(domain, "next_retry_seconds", "domain");
  if (!next.empty() && next != "-1") out += " (next in " + next + "s)";
  out += '\n';
  out += "failures in row: " + read.number(domain, "consecutive_failures", "domain") + '\n';
  const JsonValue* dns = read.need(domain, "dns", JsonValue::Kind::object, "domain");
  if (dns != nullptr) dns_lines(dns, read, out);
  shaping_lines(domain->member("shaping"), read, out);
  const JsonValue* replies = read.need(domain, "last_replies", JsonValue::Kind::array, "domain");
  if (replies != nullptr) {
    out += "last replies:";
    if (replies->elements.empty()) out += "    none";
    out += '\n';
    for (const JsonValue& reply : replies->elements) {
      out +=
          "  " + (reply.kind == JsonValue::Kind::string ? terminal_safe(reply.text) : "?") + '\n';
    }
  }
  if (!error.empty()) return failure(error);
  return view;
}

StatusView messages_view(const JsonValue& root, Reader& read, std::string& error) {
  const std::string domain = read.text(&root, "domain", "reply");
  const std::string total = read.number(&root, "messages", "reply");
  const std::string page = read.number(&root, "page", "reply");
  const std::string pages = read.number(&root, "pages", "reply");
  const JsonValue* shown = read.need(&root, "shown", JsonValue::Kind::array, "reply");
  if (!error.empty()) return failure(error);
  struct Line {
    std::string queue_id, id, recipients, attempts, waiting, sender;
  };
  std::vector<Line> lines;
  std::size_t width = 8;
  for (const JsonValue& row : shown->elements) {
    Line line;
    line.queue_id = read.text(&row, "queue_id", "shown[]");
    line.id = read.number(&row, "id", "shown[]");
    line.recipients = read.number(&row, "recipients", "shown[]");
    line.attempts = read.number(&row, "attempts", "shown[]");
    line.waiting = read.number(&row, "waiting_seconds", "shown[]") + "s";
    line.sender = read.text(&row, "sender", "shown[]");
    if (!error.empty()) return failure(error);
    width = std::max(width, line.queue_id.size());
    lines.push_back(std::move(line));
  }
  StatusView view;
  view.text = pad("QUEUE ID", width) + "  BULKQ ID  RCPTS  ATTEMPTS  WAITING  SENDER\n";
  for (const Line& line : lines) {
    view.text += pad(line.queue_id, width) + "  " + pad(line.id, 8) + "  " +
                 pad(line.recipients, 5) + "  " + pad(line.attempts, 8) + "  " +
                 pad(line.waiting, 7) + "  <" + line.sender + ">\n";
  }
  view.text += total + " message(s) waiting for " + domain + "; page " + page + " of " +
               (pages == "0" ? std::string("1") : pages) + "\n";
  return view;
}

StatusView dns_view(const JsonValue& root, Reader& read, std::string& error) {
  StatusView view;
  view.text = "domain:          " + read.text(&root, "domain", "reply") + '\n';
  const JsonValue* dns = read.need(&root, "dns", JsonValue::Kind::object, "reply");
  if (dns != nullptr) dns_lines(dns, read, view.text);
  if (!error.empty()) return failure(error);
  return view;
}

// "released 3 message(s) (7 recipient(s)) to the MTA; 1 busy (in a session now: run release
// again); 1 failed: <first error>; 250 remain: run release again", then the queue ids.
StatusView release_view(const JsonValue& root, Reader& read, std::string& error) {
  const std::string released = read.number(&root, "released", "reply");
  const std::string recipients = read.number(&root, "recipients", "reply");
  const std::string busy = read.number(&root, "busy", "reply");
  const std::string failed = read.number(&root, "failed", "reply");
  const std::string remaining = read.number(&root, "remaining", "reply");
  const std::string first_error = read.text(&root, "error", "reply");
  const JsonValue* ids = read.need(&root, "queue_ids", JsonValue::Kind::array, "reply");
  if (!error.empty()) return failure(error);
  std::string out =
      "released " + released + " message(s) (" + recipients + " recipient(s)) to the MTA";
  if (busy != "0") out += "; " + busy + " busy (in a session now: run release again)";
  if (failed != "0") out += "; " + failed + " failed: " + first_error;
  if (remaining != "0") out += "; " + remaining + " more remain: run release again";
  out += '\n';
  for (const JsonValue& id : ids->elements) {
    if (id.kind != JsonValue::Kind::string) return failure("malformed reply: queue_ids[]");
    out += "  " + terminal_safe(id.text) + '\n';
  }
  StatusView view;
  view.text = std::move(out);
  return view;
}

}  // namespace

StatusView render_command_view(AdminCommand command, std::string_view reply) {
  const JsonDocument document = parse_json_document(reply);
  if (!document.ok()) return failure("malformed reply: " + document.error);
  const JsonValue& root = document.root;
  const JsonValue* ok = root.member("ok");
  if (ok == nullptr || ok->kind != JsonValue::Kind::boolean) {
    return failure("malformed reply: no \"ok\" member");
  }
  if (!ok->boolean) {
    const JsonValue* why = root.member("error");
    // An empty or missing reason still reads as a failure, never as an empty success.
    return failure(why != nullptr && why->kind == JsonValue::Kind::string && !why->text.empty()
                       ? terminal_safe(why->text)
                       : std::string("the request failed"));
  }
  std::string error;
  Reader read(error);
  switch (command) {
    case AdminCommand::queues:
      return queues_view(root, read, error);
    case AdminCommand::domain:
      return domain_view(root, read, error);
    case AdminCommand::dns:
      return dns_view(root, read, error);
    case AdminCommand::messages:
      return messages_view(root, read, error);
    case AdminCommand::release:
      return release_view(root, read, error);
    case AdminCommand::metrics: {
      const JsonValue* text = read.need(&root, "metrics", JsonValue::Kind::string, "reply");
      if (text == nullptr) return failure(error);
      const bool printable = std::all_of(text->text.begin(), text->text.end(), [](char c) {
        return c == '\n' ||
               (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
      });
      if (!printable) return failure("malformed reply: the metrics text is not printable ASCII");
      StatusView view;
      view.text = text->text;
      return view;
    }
    default: {
      StatusView view;
      view.text = read.text(&root, "message", "reply") + '\n';
      if (!error.empty()) return failure(error);
      return view;
    }
  }
}

}  // namespace bulkq
