#include "delivery/delivery_outcome.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

struct ReplyCase {
  SmtpStatus reply;
  SmtpStage stage;
  RecipientOutcome recipient;
  DomainAction domain;
  OutcomeReason reason;
  std::string status;
};

}  // namespace

TEST_CASE("SMTP replies are classified by their basic code", "[delivery]") {
  using R = RecipientOutcome;
  using D = DomainAction;
  using O = OutcomeReason;
  const std::vector<ReplyCase> cases = {
      {{250, 2, 0, 0, "Ok"}, SmtpStage::data_end, R::delivered, D::none, O::accepted, "2.0.0"},
      {{250, 0, 0, 0, "Ok"}, SmtpStage::rcpt_to, R::delivered, D::none, O::accepted, "2.0.0"},
      {{251, 2, 1, 5, "forwarded"},
       SmtpStage::rcpt_to,
       R::delivered,
       D::none,
       O::accepted,
       "2.1.5"},
      {{450, 4, 2, 0, "mailbox busy"},
       SmtpStage::rcpt_to,
       R::retry,
       D::none,
       O::temporary_reply,
       "4.2.0"},
      {{451, 0, 0, 0, "greylisted"},
       SmtpStage::rcpt_to,
       R::retry,
       D::none,
       O::temporary_reply,
       "4.0.0"},
      {{452, 4, 5, 3, "too many recipients"},
       SmtpStage::rcpt_to,
       R::retry,
       D::none,
       O::temporary_reply,
       "4.5.3"},
      {{450, 0, 0, 0, "try later"},
       SmtpStage::greeting,
       R::retry,
       D::back_off,
       O::temporary_reply,
       "4.0.0"},
      {{421, 4, 7, 0, "too many connections"},
       SmtpStage::greeting,
       R::retry,
       D::back_off,
       O::service_closing,
       "4.7.0"},
      {{421, 0, 0, 0, "closing"},
       SmtpStage::rcpt_to,
       R::retry,
       D::back_off,
       O::service_closing,
       "4.0.0"},
      {{421, 4, 4, 2, "timeout"},
       SmtpStage::data_end,
       R::retry,
       D::back_off,
       O::service_closing,
       "4.4.2"},
      {{421, 0, 0, 0, ""},
       SmtpStage::mail_from,
       R::retry,
       D::back_off,
       O::service_closing,
       "4.0.0"},
      {{550, 5, 1, 1, "no such user"},
       SmtpStage::rcpt_to,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.1.1"},
      {{554, 0, 0, 0, "rejected"},
       SmtpStage::data_end,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.0.0"},
      {{554, 5, 7, 1, "go away"},
       SmtpStage::greeting,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.7.1"},
      {{552, 5, 3, 4, "too big"},
       SmtpStage::mail_from,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.3.4"},
      // The enhanced class disagrees: the basic code decides, the class follows it.
      {{550, 4, 1, 1, "mixed"},
       SmtpStage::rcpt_to,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.1.1"},
      {{450, 5, 7, 1, "mixed"}, SmtpStage::rcpt_to, R::retry, D::none, O::temporary_reply, "4.7.1"},
      // Broken enhanced codes are ignored.
      {{550, 3, 1, 1, "bad class"},
       SmtpStage::rcpt_to,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.0.0"},
      {{550, 5, 1000, 1, "bad subject"},
       SmtpStage::rcpt_to,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.0.0"},
      {{550, 5, 1, -1, "bad detail"},
       SmtpStage::rcpt_to,
       R::bounced,
       D::none,
       O::permanent_reply,
       "5.0.0"},
      // No final reply where one was due: never lost, retried.
      {{354, 0, 0, 0, "go ahead"},
       SmtpStage::data_end,
       R::retry,
       D::none,
       O::protocol_error,
       "4.5.0"},
      {{199, 0, 0, 0, ""}, SmtpStage::rcpt_to, R::retry, D::none, O::protocol_error, "4.5.0"},
      {{0, 0, 0, 0, ""}, SmtpStage::rcpt_to, R::retry, D::none, O::protocol_error, "4.5.0"},
      {{600, 5, 0, 0, ""}, SmtpStage::rcpt_to, R::retry, D::none, O::protocol_error, "4.5.0"},
      {{-550, 0, 0, 0, ""}, SmtpStage::rcpt_to, R::retry, D::none, O::protocol_error, "4.5.0"},
  };
  for (const ReplyCase& c : cases) {
    INFO("reply " << c.reply.code << " " << c.reply.text << " at " << to_string(c.stage));
    const DeliveryOutcome out = classify_reply(c.reply, c.stage);
    CHECK(out.recipient == c.recipient);
    CHECK(out.domain == c.domain);
    CHECK(out.reason == c.reason);
    CHECK(out.status.to_string() == c.status);
  }
}

TEST_CASE("the reason text reads like Postfix's", "[delivery]") {
  CHECK(classify_reply({550, 5, 1, 1, "<a@b.test>: no such user\r\n"}, SmtpStage::rcpt_to).text ==
        "550 5.1.1 <a@b.test>: no such user (in reply to RCPT TO command)");
  CHECK(classify_reply({250, 0, 0, 0, "Ok"}, SmtpStage::data_end).text ==
        "250 Ok (in reply to end of DATA command)");
  CHECK(classify_reply({421, 0, 0, 0, ""}, SmtpStage::greeting).text ==
        "421 (in the server greeting)");
  CHECK(classify_reply({452, 4, 3, 1, "  full "}, SmtpStage::mail_from).text ==
        "452 4.3.1 full (in reply to MAIL FROM command)");
}

TEST_CASE("the DSN status defaults from the basic code", "[delivery]") {
  struct Case {
    SmtpStatus reply;
    DsnStatus status;
  };
  const std::vector<Case> cases = {
      {{250, 0, 0, 0, ""}, {2, 0, 0}}, {{221, 0, 0, 0, ""}, {2, 0, 0}},
      {{451, 0, 0, 0, ""}, {4, 0, 0}}, {{554, 0, 0, 0, ""}, {5, 0, 0}},
      {{550, 5, 1, 1, ""}, {5, 1, 1}}, {{550, 5, 1, 10, ""}, {5, 1, 10}},
      {{250, 2, 6, 0, ""}, {2, 6, 0}}, {{354, 0, 0, 0, ""}, {4, 0, 0}},
      {{17, 0, 0, 0, ""}, {4, 0, 0}},  {{550, 5, 999, 999, ""}, {5, 999, 999}},
  };
  for (const Case& c : cases) {
    INFO("reply " << c.reply.code << " " << c.reply.enhanced_class << "." << c.reply.subject << "."
                  << c.reply.detail);
    CHECK(dsn_status(c.reply) == c.status);
  }
  CHECK(DsnStatus{5, 1, 10}.to_string() == "5.1.10");
}

TEST_CASE("transport failures retry and back the domain off; permanent DNS bounces", "[delivery]") {
  using R = RecipientOutcome;
  using D = DomainAction;
  using O = OutcomeReason;
  struct Case {
    TransportFailure failure;
    RecipientOutcome recipient;
    DomainAction domain;
    OutcomeReason reason;
    std::string status;
  };
  const std::vector<Case> cases = {
      {TransportFailure::connect_refused, R::retry, D::back_off, O::transport, "4.4.1"},
      {TransportFailure::connect_timeout, R::retry, D::back_off, O::transport, "4.4.1"},
      {TransportFailure::tls_failure, R::retry, D::back_off, O::transport, "4.7.5"},
      {TransportFailure::read_timeout, R::retry, D::back_off, O::transport, "4.4.2"},
      {TransportFailure::connection_lost, R::retry, D::back_off, O::transport, "4.4.2"},
      {TransportFailure::dns_temporary, R::retry, D::back_off, O::dns_temporary, "4.4.3"},
      {TransportFailure::dns_no_such_domain, R::bounced, D::none, O::dns_permanent, "5.4.4"},
      {TransportFailure::dns_null_mx, R::bounced, D::none, O::dns_permanent, "5.1.10"},
  };
  for (const Case& c : cases) {
    INFO(to_string(c.failure));
    const DeliveryOutcome out = classify_transport(c.failure);
    CHECK(out.recipient == c.recipient);
    CHECK(out.domain == c.domain);
    CHECK(out.reason == c.reason);
    CHECK(out.status.to_string() == c.status);
    CHECK(out.text == to_string(c.failure));
  }
}

TEST_CASE("past the maximum lifetime a retry becomes an expired bounce", "[delivery]") {
  const DeliveryOutcome deferred = classify_reply({451, 4, 7, 1, "greylisted"}, SmtpStage::rcpt_to);

  const DeliveryOutcome still = apply_lifetime(deferred, false);
  CHECK(still.recipient == RecipientOutcome::retry);
  CHECK(still.text == deferred.text);

  const DeliveryOutcome expired = apply_lifetime(deferred, true);
  CHECK(expired.recipient == RecipientOutcome::bounced);
  CHECK(expired.reason == OutcomeReason::expired);
  CHECK(expired.status == DsnStatus{5, 4, 7});
  CHECK(expired.text ==
        "message expired in queue; last failure: 451 4.7.1 greylisted (in reply to RCPT TO "
        "command)");

  const DeliveryOutcome refused =
      apply_lifetime(classify_transport(TransportFailure::connect_refused), true);
  CHECK(refused.recipient == RecipientOutcome::bounced);
  CHECK(refused.domain == DomainAction::back_off);  // the domain is still in trouble

  const DeliveryOutcome sent = classify_reply({250, 2, 0, 0, "Ok"}, SmtpStage::data_end);
  CHECK(apply_lifetime(sent, true).recipient == RecipientOutcome::delivered);
  const DeliveryOutcome bounced = classify_reply({550, 5, 1, 1, "no"}, SmtpStage::rcpt_to);
  CHECK(apply_lifetime(bounced, true).reason == OutcomeReason::permanent_reply);
}
