#include "delivery/delivery_log_line.h"

#include <array>
#include <chrono>
#include <cstdio>

#include "admin/json_string.h"

namespace bulkq {
namespace {

constexpr std::size_t kMaxAddress = 320;  // RFC 5321 path limits, with room to spare
constexpr std::size_t kMaxText = 500;     // Postfix keeps replies short too (smtp_chat.c)
constexpr std::size_t kMaxHost = 255;
constexpr std::size_t kMaxQueueId = 64;
constexpr std::size_t kMaxJsonReply = 2000;

// Untrusted bytes as one safe, bounded piece of a log line: printable ASCII as it is, backslash
// doubled, everything else \xNN; cut after `max_bytes` input bytes with "...". Unquoted, so the
// line keeps Postfix's shape that log tools parse.
void append_escaped(std::string& out, std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_bytes) {
      out += "...";
      return;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Cuts at a UTF-8 character boundary, so the JSON escaper does not turn a cut character into a
// replacement mark.
std::string_view cut_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80)
    --end;
  return text.substr(0, end);
}

std::string iso8601_utc(TimePoint t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02ld:%02ld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()),
                static_cast<long long>(hms.subseconds().count()));
  return buf.data();
}

void append_json_field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_string(out, value);
}

}  // namespace

std::string_view to_string(LogStatus status) {
  switch (status) {
    case LogStatus::sent:
      return "sent";
    case LogStatus::deferred:
      return "deferred";
    case LogStatus::bounced:
      return "bounced";
    case LogStatus::expired:
      return "expired";
  }
  return "deferred";
}

LogStatus log_status(const DeliveryOutcome& outcome) {
  switch (outcome.recipient) {
    case RecipientOutcome::delivered:
      return LogStatus::sent;
    case RecipientOutcome::retry:
    case RecipientOutcome::deferred:
    case RecipientOutcome::untouched:
      return LogStatus::deferred;
    case RecipientOutcome::bounced:
      return outcome.reason == OutcomeReason::expired ? LogStatus::expired : LogStatus::bounced;
  }
  return LogStatus::deferred;
}

std::string format_delay(Duration d) {
  const long long ms = d.count() < 0 ? 0 : d.count();
  const long long whole = ms / 1000;
  const long long fraction = ms % 1000;
  if (whole >= 10) return std::to_string(whole);
  std::string out = std::to_string(whole);
  // Two significant digits at most, never finer than 10 ms (Postfix's delay_max_res default).
  std::string digits;
  if (whole >= 1) {
    digits = std::to_string(fraction / 100);
  } else {
    const long long hundredths = fraction / 10;
    digits = {static_cast<char>('0' + hundredths / 10), static_cast<char>('0' + hundredths % 10)};
  }
  while (!digits.empty() && digits.back() == '0')
    digits.pop_back();
  if (!digits.empty()) out += "." + digits;
  return out;
}

std::string delivery_log_line(const DeliveryLogEntry& entry) {
  std::string out;
  out.reserve(160 + entry.text.size());
  append_escaped(out, entry.queue_id, kMaxQueueId);
  out += ": to=<";
  append_escaped(out, entry.recipient, kMaxAddress);
  out += ">, relay=";
  if (entry.relay_host.empty()) {
    out += "none";
  } else {
    append_escaped(out, entry.relay_host, kMaxHost);
    out += '[';
    append_escaped(out, entry.relay_address, kMaxHost);
    out += "]:";
    out += std::to_string(entry.relay_port);
  }
  if (entry.connection_use > 1) out += ", conn_use=" + std::to_string(entry.connection_use);
  out += ", delay=" + format_delay(entry.delay);
  out += ", delays=" + format_delay(entry.delays.before_queue) + "/" +
         format_delay(entry.delays.in_queue) + "/" + format_delay(entry.delays.connection_setup) +
         "/" + format_delay(entry.delays.transmission);
  out += ", dsn=" + entry.dsn.to_string();
  out += ", status=";
  out += to_string(entry.status);
  out += " (";
  append_escaped(out, entry.text, kMaxText);
  out += ')';
  return out;
}

std::string accounting_line(const AccountingEntry& entry) {
  std::string out = "{\"time\":\"" + iso8601_utc(entry.time) + "\"";
  append_json_field(out, "queue_id", cut_utf8(entry.queue_id, kMaxQueueId));
  out += ",\"bulkq_id\":" + std::to_string(entry.bulkq_id);
  append_json_field(out, "sender", cut_utf8(entry.sender, kMaxAddress));
  append_json_field(out, "recipient", cut_utf8(entry.recipient, kMaxAddress));
  append_json_field(out, "domain", cut_utf8(entry.domain, kMaxHost));
  append_json_field(out, "status", to_string(entry.status));
  append_json_field(out, "dsn", entry.dsn.to_string());
  append_json_field(out, "relay", cut_utf8(entry.relay, 2 * kMaxHost));
  append_json_field(out, "reply", cut_utf8(entry.reply, kMaxJsonReply));
  out += ",\"attempts\":" + std::to_string(entry.attempts) + "}";
  return out;
}

}  // namespace bulkq
