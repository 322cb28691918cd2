// DsnMessage: the RFC 3464 delivery status notification bulkq sends back to a message's sender
// when recipients bounce (Action: failed) or, optionally, are still being retried (delayed).
//
// Pure, any thread: no clock, no randomness of its own (the Date comes in as a TimePoint and the
// MIME boundary from a seed), so the same input always composes the same message. The caller
// submits the result through the MTA from the null sender <> (`sendmail -f ''` or the submission
// port): the envelope sender is not part of the message and is always empty.
//
// Promised: multipart/report; report-type=delivery-status with three parts — text/plain (Postfix's
// wording), message/delivery-status (one per-message group, then one group per recipient) and
// text/rfc822-headers (the original header lines); every line at most 998 bytes (long fields are
// folded, the original headers split); no CR, LF or other control byte inside a line except TAB
// in the original headers; the boundary never occurs in the content. A message whose own sender
// is <> gets no DSN (RFC 3461 §6.2: never answer a bounce with a bounce).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "delivery/delivery_outcome.h"

namespace bulkq {

enum class DsnAction : std::uint8_t { failed, delayed };

struct DsnRecipient {
  std::string final_recipient;     // the address as delivered to, without <>
  std::string original_recipient;  // as the client gave it, when known; empty = unknown
  DsnAction action = DsnAction::failed;
  DsnStatus status{5, 0, 0};
  std::string remote_mta;  // the host that answered; empty when none did (DNS, refused)
  std::string diagnostic;  // the server's reply, "550 5.1.1 no such user"; empty = none
  std::string reason;      // Postfix-shaped explanation for the human part (DeliveryOutcome::text)
  TimePoint last_attempt{};
};

struct DsnInput {
  std::string sender;          // the original envelope sender, without <>; empty = null sender
  std::string queue_id;        // the MTA's queue id of the original
  std::string reporting_host;  // this MTA's host name (myhostname)
  TimePoint arrival{};
  TimePoint now{};  // the Date header; also the Message-ID's time stamp
  std::uint64_t boundary_seed = 0;
  std::vector<DsnRecipient> recipients;
  // The original message's header lines as read from the spool, without line endings; folded
  // continuation lines as separate lines. Reading stops at the first empty line (the body).
  std::vector<std::string> original_headers;
};

enum class DsnRefusal : std::uint8_t {
  none,
  null_sender,         // the original came from <>: no DSN, ever
  no_recipients,       // nothing to report
  bad_reporting_host,  // empty, or not a plain host name: it would end up in From and Message-ID
};

[[nodiscard]] std::string_view to_string(DsnRefusal refusal);  // "no DSN for <>", …

struct DsnMessage {
  DsnRefusal refusal = DsnRefusal::none;
  // The whole message, headers then body, one entry per line, without line endings: the
  // submitter adds CRLF (or LF for `sendmail`) and does the SMTP dot-stuffing itself.
  std::vector<std::string> lines;
  [[nodiscard]] bool ok() const { return refusal == DsnRefusal::none; }
};

[[nodiscard]] DsnMessage compose_dsn(const DsnInput& input);

// The lines joined with CRLF, a CRLF after the last one: ready for an SMTP DATA stream (before
// dot-stuffing).
[[nodiscard]] std::string join_crlf(const std::vector<std::string>& lines);

// RFC 5322 date-time in UTC, "Sun, 29 Nov 2026 14:16:26 +0000".
[[nodiscard]] std::string rfc5322_date(TimePoint t);

// Lines of "Name: value" folded at spaces to stay under 78 bytes where the value allows, and cut
// hard (the rest continuing on a space-led line) where a single word would pass 998 bytes.
// `value` must hold no control bytes (compose_dsn cleans untrusted text before folding it).
[[nodiscard]] std::vector<std::string> fold_field(std::string_view name, std::string_view value);

}  // namespace bulkq
