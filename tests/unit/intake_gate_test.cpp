#include "intake/intake_gate.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

MessageEvidence bulk_evidence() {
  MessageEvidence evidence;
  evidence.headers.push_back({"Precedence", " bulk"});
  return evidence;
}

struct GateFixture {
  IntakeHandoff handoff{4};
  IntakeSignals signals;
  IntakeGate gate{MtaKind::postfix, BulkRules{}, handoff, signals, 100};
  std::vector<std::string> recipients{"a@one.test", "b@two.test"};

  IntakeDecision submit(const MessageEvidence& evidence,
                        std::string_view queue_id = "4jcjNh4glqz1bYM2") {
    IntakeEnvelope envelope;
    envelope.queue_id = queue_id;
    envelope.sender = "news@sender.test";
    envelope.recipients = recipients;
    return gate.submit(evidence, envelope);
  }
};

}  // namespace

TEST_CASE("mail that is not bulk passes untouched", "[intake][gate]") {
  GateFixture f;
  const IntakeDecision decision = f.submit(MessageEvidence{});
  CHECK(decision.action == IntakeAction::pass);
  CHECK(f.signals.passed == 1);
  CHECK(f.signals.diverted == 0);
  CHECK(f.handoff.try_pop() == nullptr);
}

TEST_CASE("bulk mail is handed over with consecutive ids", "[intake][gate]") {
  GateFixture f;
  const IntakeDecision first = f.submit(bulk_evidence());
  const IntakeDecision second = f.submit(bulk_evidence(), "4jcjNh4glqz1bYM3");
  REQUIRE(first.action == IntakeAction::divert);
  REQUIRE(second.action == IntakeAction::divert);
  CHECK(first.id == 100);
  CHECK(second.id == 101);
  CHECK(first.reason.find("Precedence") != std::string::npos);
  CHECK(f.signals.diverted == 2);
  auto message = f.handoff.try_pop();
  REQUIRE(message != nullptr);
  CHECK(message->record.id() == 100);
  CHECK(message->record.spool().queue_id == "4jcjNh4glqz1bYM2");
  CHECK(message->record.recipient_count() == 2);
  CHECK(message->routing.domain_count() == 2);
}

TEST_CASE("bulk mail fails open when the engine cannot take it", "[intake][gate]") {
  GateFixture f;
  SECTION("journal not writable") {
    f.signals.journal_ok = false;
    const IntakeDecision d = f.submit(bulk_evidence());
    CHECK(d.action == IntakeAction::fail_open);
    CHECK(d.reason.find("journal") != std::string::npos);
    CHECK(f.signals.fail_open_journal == 1);
  }
  SECTION("memory limit reached") {
    f.signals.memory_limit_bytes = 1 << 20;
    f.signals.memory_bytes = 1 << 20;
    const IntakeDecision d = f.submit(bulk_evidence());
    CHECK(d.action == IntakeAction::fail_open);
    CHECK(d.reason.find("memory limit") != std::string::npos);
    CHECK(f.signals.fail_open_memory == 1);
  }
  SECTION("handoff full") {
    for (int i = 0; i < 4; ++i)
      REQUIRE(f.submit(bulk_evidence()).action == IntakeAction::divert);
    const IntakeDecision d = f.submit(bulk_evidence());
    CHECK(d.action == IntakeAction::fail_open);
    CHECK(d.reason.find("handoff") != std::string::npos);
    CHECK(f.signals.fail_open_handoff == 1);
    CHECK(f.signals.diverted == 4);
  }
  SECTION("no queue id") {
    const IntakeDecision d = f.submit(bulk_evidence(), "");
    CHECK(d.action == IntakeAction::fail_open);
    CHECK(f.signals.fail_open_spool == 1);
  }
  SECTION("a recipient bulkq cannot queue") {
    f.recipients.push_back("no-domain");
    const IntakeDecision d = f.submit(bulk_evidence());
    CHECK(d.action == IntakeAction::fail_open);
    CHECK(d.reason.find("recipient cannot be queued") != std::string::npos);
    CHECK(f.signals.fail_open_spool == 1);
  }
  SECTION("no recipients") {
    f.recipients.clear();
    CHECK(f.submit(bulk_evidence()).action == IntakeAction::fail_open);
  }
  SECTION("bulkqd stopping") {
    f.signals.stopping = true;
    CHECK(f.submit(bulk_evidence()).action == IntakeAction::fail_open);
  }
  CHECK(f.signals.fail_open().total() == 1);
  CHECK(f.signals.diverted == (f.signals.fail_open_handoff == 1 ? 4U : 0U));
}
