// DeliveryLogLine: the text bulkq logs for each recipient outcome — a line in Postfix's own
// shape, so pflogsumm and the grep habits of Postfix administrators keep working, and one JSON
// object for accounting.
//
// Pure, any thread (delivery formats on its event-loop thread and hands the string to the
// logger). Promised: each result is one line (no CR, LF or other control byte, whatever the
// server or the envelope held), every field is bounded (a hostile 100 KB reply yields a line of
// a few hundred bytes), and the JSON object is valid RFC 8259 whatever bytes its strings held.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "delivery/delivery_outcome.h"

namespace bulkq {

// Postfix's status words.
enum class LogStatus : std::uint8_t { sent, deferred, bounced, expired };

[[nodiscard]] std::string_view to_string(LogStatus status);
// delivered → sent, retry → deferred, bounced → bounced (expired when the reason is expiry).
[[nodiscard]] LogStatus log_status(const DeliveryOutcome& outcome);

// Where the time went, Postfix's "delays=a/b/c/d": before the queue manager (intake), in the
// queue, connection setup (DNS, connect, greeting, EHLO, TLS), transmission.
struct LogDelays {
  Duration before_queue{0};
  Duration in_queue{0};
  Duration connection_setup{0};
  Duration transmission{0};
};

struct DeliveryLogEntry {
  std::string_view queue_id;       // the MTA's queue id: the key every Postfix log tool groups by
  std::string_view recipient;      // without <>
  std::string_view relay_host;     // empty: no host was reached ("relay=none")
  std::string_view relay_address;  // the IP address connected to, without brackets
  std::uint16_t relay_port = 25;
  std::uint32_t connection_use = 0;  // >1: the transaction reused a connection ("conn_use=")
  Duration delay{0};                 // since the message arrived
  LogDelays delays;
  DsnStatus dsn;
  LogStatus status = LogStatus::deferred;
  std::string_view text;  // in the parentheses: the reply or the reason (DeliveryOutcome::text)
};

// `QUEUEID: to=<a@b.test>, relay=mx.b.test[127.0.0.5]:25, delay=0.42,
// delays=0.01/0/0.2/0.21, dsn=2.0.0, status=sent (250 2.0.0 Ok)`.
// Untrusted bytes (control, non-ASCII, backslash) are written as \xNN / \\, the address is cut
// at 320 bytes and the text at 500, both marked with "...".
[[nodiscard]] std::string delivery_log_line(const DeliveryLogEntry& entry);

// Postfix's delay figure: whole seconds from 10 s, one decimal from 1 s, two below (trailing
// zeros dropped), "0" under 10 ms: 0.42, 1.3, 24, 0.2, 0.
[[nodiscard]] std::string format_delay(Duration d);

struct AccountingEntry {
  TimePoint time{};
  std::string_view queue_id;
  std::uint64_t bulkq_id = 0;
  std::string_view sender;  // empty: the null sender
  std::string_view recipient;
  std::string_view domain;
  LogStatus status = LogStatus::deferred;
  DsnStatus dsn;
  std::string_view relay;  // "mx.b.test[127.0.0.5]:25", or empty
  std::string_view reply;  // cut at 2000 bytes
  std::uint32_t attempts = 0;
};

// One JSON object, no trailing newline:
// {"time":"2026-11-29T14:16:26.123Z","queue_id":"…","bulkq_id":7,"sender":"…","recipient":"…",
//  "domain":"…","status":"sent","dsn":"2.0.0","relay":"…","reply":"…","attempts":1}
[[nodiscard]] std::string accounting_line(const AccountingEntry& entry);

}  // namespace bulkq
