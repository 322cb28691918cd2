#include "delivery/delivery_outcome.h"

#include <utility>

namespace bulkq {
namespace {

bool well_formed(const SmtpStatus& reply) {
  const bool klass =
      reply.enhanced_class == 2 || reply.enhanced_class == 4 || reply.enhanced_class == 5;
  return klass && reply.subject >= 0 && reply.subject <= 999 && reply.detail >= 0 &&
         reply.detail <= 999;
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// "550 5.1.1 no such user (in reply to RCPT TO command)": the reply as the server sent it,
// then where in the dialogue, the way Postfix writes it.
std::string reply_text(const SmtpStatus& reply, SmtpStage stage) {
  std::string text = std::to_string(reply.code);
  if (reply.enhanced_class != 0 && well_formed(reply)) {
    text += ' ';
    text += DsnStatus{reply.enhanced_class, reply.subject, reply.detail}.to_string();
  }
  const std::string_view said = trimmed(reply.text);
  if (!said.empty()) {
    text += ' ';
    text += said;
  }
  if (stage == SmtpStage::greeting) {
    text += " (in the server greeting)";
  } else {
    text += " (in reply to ";
    text += to_string(stage);
    text += " command)";
  }
  return text;
}

}  // namespace

std::string DsnStatus::to_string() const {
  return std::to_string(klass) + '.' + std::to_string(subject) + '.' + std::to_string(detail);
}

std::string_view to_string(SmtpStage stage) {
  switch (stage) {
    case SmtpStage::greeting:
      return "greeting";
    case SmtpStage::ehlo:
      return "EHLO";
    case SmtpStage::starttls:
      return "STARTTLS";
    case SmtpStage::mail_from:
      return "MAIL FROM";
    case SmtpStage::rcpt_to:
      return "RCPT TO";
    case SmtpStage::data:
      return "DATA";
    case SmtpStage::data_end:
      return "end of DATA";
    case SmtpStage::rset:
      return "RSET";
    case SmtpStage::quit:
      return "QUIT";
  }
  return "unknown";
}

std::string_view to_string(TransportFailure failure) {
  switch (failure) {
    case TransportFailure::connect_refused:
      return "connect: Connection refused";
    case TransportFailure::connect_timeout:
      return "connect: Connection timed out";
    case TransportFailure::tls_failure:
      return "TLS handshake failed";
    case TransportFailure::read_timeout:
      return "conversation timed out";
    case TransportFailure::connection_lost:
      return "lost connection";
    case TransportFailure::dns_no_such_domain:
      return "Host or domain name not found (NXDOMAIN)";
    case TransportFailure::dns_null_mx:
      return "Domain does not accept mail (null MX)";
    case TransportFailure::dns_temporary:
      return "Host or domain name lookup failed temporarily";
  }
  return "unknown transport failure";
}

std::string_view to_string(OutcomeReason reason) {
  switch (reason) {
    case OutcomeReason::accepted:
      return "accepted";
    case OutcomeReason::temporary_reply:
      return "temporary_reply";
    case OutcomeReason::service_closing:
      return "service_closing";
    case OutcomeReason::permanent_reply:
      return "permanent_reply";
    case OutcomeReason::protocol_error:
      return "protocol_error";
    case OutcomeReason::transport:
      return "transport";
    case OutcomeReason::dns_permanent:
      return "dns_permanent";
    case OutcomeReason::dns_temporary:
      return "dns_temporary";
    case OutcomeReason::expired:
      return "expired";
  }
  return "unknown";
}

DsnStatus dsn_status(const SmtpStatus& reply) {
  const int basic = reply.code / 100;
  const int klass = (reply.code >= 200 && reply.code <= 599 && basic != 3) ? basic : 4;
  if (reply.enhanced_class != 0 && well_formed(reply)) {
    return {klass, reply.subject, reply.detail};
  }
  return {klass, 0, 0};
}

DeliveryOutcome classify_reply(const SmtpStatus& reply, SmtpStage stage) {
  DeliveryOutcome out;
  out.status = dsn_status(reply);
  out.text = reply_text(reply, stage);
  const bool valid = reply.code >= 200 && reply.code <= 599;
  const int basic = valid ? reply.code / 100 : 0;
  if (basic == 2) {
    out.recipient = RecipientOutcome::delivered;
    out.reason = OutcomeReason::accepted;
  } else if (basic == 5) {
    out.recipient = RecipientOutcome::bounced;
    out.reason = OutcomeReason::permanent_reply;
  } else if (reply.code == 421) {
    // The server is closing the session: whatever the stage, the domain needs a pause.
    out.recipient = RecipientOutcome::retry;
    out.domain = DomainAction::back_off;
    out.reason = OutcomeReason::service_closing;
  } else if (basic == 4) {
    out.recipient = RecipientOutcome::retry;
    out.reason = OutcomeReason::temporary_reply;
    // A 4xx greeting refuses the whole session, like a refused connection.
    if (stage == SmtpStage::greeting) out.domain = DomainAction::back_off;
  } else {
    // 1xx, 3xx where a final reply was due, or no valid code: never lose the recipient over a
    // broken server, try again later.
    out.recipient = RecipientOutcome::retry;
    out.reason = OutcomeReason::protocol_error;
    out.status = {4, 5, 0};  // X.5.0: other or undefined protocol status
  }
  return out;
}

DeliveryOutcome classify_transport(TransportFailure failure) {
  DeliveryOutcome out;
  out.text = std::string(to_string(failure));
  out.recipient = RecipientOutcome::retry;
  out.domain = DomainAction::back_off;
  out.reason = OutcomeReason::transport;
  switch (failure) {
    case TransportFailure::connect_refused:
    case TransportFailure::connect_timeout:
      out.status = {4, 4, 1};
      break;  // no answer from host
    case TransportFailure::tls_failure:
      out.status = {4, 7, 5};
      break;  // cryptographic failure
    case TransportFailure::read_timeout:
    case TransportFailure::connection_lost:
      out.status = {4, 4, 2};
      break;  // bad connection
    case TransportFailure::dns_no_such_domain:
      out.recipient = RecipientOutcome::bounced;
      out.domain = DomainAction::none;  // every recipient of the domain bounces; nothing to pace
      out.reason = OutcomeReason::dns_permanent;
      out.status = {5, 4, 4};  // unable to route
      break;
    case TransportFailure::dns_null_mx:
      out.recipient = RecipientOutcome::bounced;
      out.domain = DomainAction::none;
      out.reason = OutcomeReason::dns_permanent;
      out.status = {5, 1, 10};  // RFC 7505: recipient address has null MX
      break;
    case TransportFailure::dns_temporary:
      out.reason = OutcomeReason::dns_temporary;
      out.status = {4, 4, 3};  // directory server failure
      break;
  }
  return out;
}

DeliveryOutcome apply_lifetime(DeliveryOutcome outcome, bool expired) {
  if (!expired || outcome.recipient != RecipientOutcome::retry) return outcome;
  outcome.recipient = RecipientOutcome::bounced;
  outcome.reason = OutcomeReason::expired;
  outcome.status = {5, 4, 7};
  outcome.text = "message expired in queue; last failure: " + std::move(outcome.text);
  return outcome;
}

}  // namespace bulkq
