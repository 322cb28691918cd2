// DeliveryOutcome: what one delivery attempt means for a recipient and for its domain.
//
// Pure, any thread (delivery classifies on its event-loop thread and hands the result to the
// scheduler thread). Sorts an SMTP reply, or a failure below SMTP (connection, TLS, DNS), into
// the scheduler's RecipientOutcome (delivered / bounced / retry), a domain-level action (none /
// back off), an RFC 3463 status for the DSN and the log, and a reason in Postfix's words.
//
// Promised, whatever the server sent: 2xx delivers, 4xx retries, 421 also backs the domain off,
// 5xx bounces, anything else (a code outside 200–599, a 1xx or 3xx where a final reply was due)
// retries as a protocol error; failures below SMTP retry and back the domain off, except a
// permanent DNS answer (NXDOMAIN, null MX), which bounces. The decision follows the basic code,
// never the enhanced code, and the DSN status's class always agrees with the decision.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/scheduler.h"

namespace bulkq {

// One final SMTP reply as delivery saw it. Deliberately independent of the reply parser: the
// parser fills it in. `text` is the reply text after the code and enhanced code (lines of a
// multi-line reply may be joined with any whitespace); it is untrusted bytes.
struct SmtpStatus {
  int code = 0;            // three digits, e.g. 250
  int enhanced_class = 0;  // RFC 3463 class.subject.detail; 0 = the server gave none
  int subject = 0;
  int detail = 0;
  std::string text;
};

// An RFC 3463 status code, e.g. 5.1.1.
struct DsnStatus {
  int klass = 0;  // 2, 4 or 5
  int subject = 0;
  int detail = 0;
  [[nodiscard]] std::string to_string() const;  // "5.1.1"
  friend bool operator==(const DsnStatus&, const DsnStatus&) = default;
};

// The SMTP step a reply answered; it shapes the reason ("in reply to RCPT TO command").
enum class SmtpStage : std::uint8_t {
  greeting,
  ehlo,
  starttls,
  mail_from,
  rcpt_to,
  data,      // the reply to DATA itself
  data_end,  // the reply after the final "."
  rset,
  quit,
};

// Failures that happen without a final SMTP reply.
enum class TransportFailure : std::uint8_t {
  connect_refused,
  connect_timeout,
  tls_failure,
  read_timeout,
  connection_lost,     // the peer closed or reset mid-session
  dns_no_such_domain,  // NXDOMAIN: permanent
  dns_null_mx,         // RFC 7505 "MX 0 .": the domain accepts no mail, permanent
  dns_temporary,       // SERVFAIL, timeout: try again later
};

enum class DomainAction : std::uint8_t {
  none,
  back_off,  // stop opening connections to the domain for a while (RetrySchedule's domain delay)
};

// Why, in one word; log and DSN wording and metrics key on it.
enum class OutcomeReason : std::uint8_t {
  accepted,         // 2xx
  temporary_reply,  // 4xx other than 421
  service_closing,  // 421
  permanent_reply,  // 5xx
  protocol_error,   // a reply code that is no final 2xx/4xx/5xx
  transport,        // connection, TLS or timeout failure
  dns_permanent,    // NXDOMAIN or null MX
  dns_temporary,    // DNS could not answer now
  expired,          // queued past the maximum lifetime
};

struct DeliveryOutcome {
  RecipientOutcome recipient = RecipientOutcome::retry;
  DomainAction domain = DomainAction::none;
  OutcomeReason reason = OutcomeReason::temporary_reply;
  DsnStatus status;
  // Postfix-shaped text for the log's "status=… (…)" and the DSN's human part, e.g.
  // "550 5.1.1 no such user (in reply to RCPT TO command)". Untrusted bytes from the reply are
  // copied as they are; the log line and the DSN make them safe.
  std::string text;
};

[[nodiscard]] std::string_view to_string(SmtpStage stage);  // "RCPT TO"
[[nodiscard]] std::string_view to_string(TransportFailure failure);
[[nodiscard]] std::string_view to_string(OutcomeReason reason);

// The reply's enhanced code when it gave a well-formed one (class 2, 4 or 5, subject and detail
// 0–999), with its class forced to agree with the basic code (RFC 3463 requires it; a server
// that says "550 4.1.1" is treated as 5.1.1); otherwise the default for the basic code: 2.0.0,
// 4.0.0 or 5.0.0 (4.0.0 for a code that is no 2xx/4xx/5xx).
[[nodiscard]] DsnStatus dsn_status(const SmtpStatus& reply);

[[nodiscard]] DeliveryOutcome classify_reply(const SmtpStatus& reply, SmtpStage stage);
[[nodiscard]] DeliveryOutcome classify_transport(TransportFailure failure);

// Applies the maximum queue lifetime to an outcome: a retry of an expired message becomes a
// bounce with reason `expired`, status 5.4.7 ("delivery time expired") and the last failure's
// text kept as the explanation. Delivered and bounced outcomes pass unchanged, as does a
// domain action (the domain's trouble does not go away because one message expired).
[[nodiscard]] DeliveryOutcome apply_lifetime(DeliveryOutcome outcome, bool expired);

}  // namespace bulkq
