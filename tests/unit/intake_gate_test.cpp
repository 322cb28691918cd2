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

// ---- the volume counter ------------------------------------------------------------------------

namespace {

IntakeEnvelope envelope_at(const std::vector<std::string>& recipients, std::string_view sender,
                           std::string_view queue_id, TimePoint arrived) {
  IntakeEnvelope envelope;
  envelope.queue_id = queue_id;
  envelope.sender = sender;
  envelope.recipients = recipients;
  envelope.arrived = arrived;
  return envelope;
}

// 2026-11-29 12:00:00 UTC.
const TimePoint kNoon{std::chrono::seconds(1796040000 - 86400)};

}  // namespace

TEST_CASE("the volume counter counts diverted mail; past a limit it fails open",
          "[intake][gate][quota]") {
  GateFixture f;
  VolumeLimits limits;
  limits.messages = 2;
  VolumeCounter counter(limits, nullptr);
  f.gate.count_volume(&counter, QuotaAction::fail_open);

  CHECK(f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "a@s.test", "Q1", kNoon)).action ==
        IntakeAction::divert);
  CHECK(f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "a@s.test", "Q2", kNoon)).action ==
        IntakeAction::divert);
  const IntakeDecision third =
      f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "a@s.test", "Q3", kNoon));
  CHECK(third.action == IntakeAction::fail_open);
  CHECK(third.reason.find("volume quota") != std::string::npos);
  CHECK(f.signals.fail_open_quota == 1);
  CHECK(f.signals.fail_open().total() == 1);
  CHECK(f.signals.diverted == 2);
  // Not bulk: neither counted nor refused.
  CHECK(
      f.gate.submit(MessageEvidence{}, envelope_at(f.recipients, "a@s.test", "Q4", kNoon)).action ==
      IntakeAction::pass);
  const VolumeSnapshot snapshot = counter.snapshot(std::chrono::system_clock::time_point(kNoon));
  CHECK(snapshot.global.messages == 2);
  CHECK(snapshot.global.recipients == 4);
}

TEST_CASE("past a sender domain's limit, quota.action tempfail refuses its mail only",
          "[intake][gate][quota]") {
  GateFixture f;
  VolumeLimits limits;
  limits.domains["limited.test"] = VolumeDomainLimits{0, 3};
  VolumeCounter counter(limits, nullptr);
  f.gate.count_volume(&counter, QuotaAction::tempfail);

  CHECK(f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "n@Limited.TEST", "Q1", kNoon))
            .action == IntakeAction::divert);
  (void)f.handoff.try_pop();
  // Two more recipients would make 4 of 3.
  const IntakeDecision refused =
      f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "n@limited.test", "Q2", kNoon));
  CHECK(refused.action == IntakeAction::tempfail);
  CHECK(refused.reason.find("limited.test") != std::string::npos);
  CHECK(f.signals.quota_tempfailed == 1);
  CHECK(f.signals.fail_open().total() == 0);
  // Other senders are not held back.
  CHECK(f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "n@other.test", "Q3", kNoon))
            .action == IntakeAction::divert);
  // The next day counts from zero.
  const TimePoint tomorrow = kNoon + std::chrono::hours(24);
  (void)f.handoff.try_pop();
  CHECK(f.gate.submit(bulk_evidence(), envelope_at(f.recipients, "n@limited.test", "Q4", tomorrow))
            .action == IntakeAction::divert);
}

TEST_CASE("mail the handoff cannot take gives its count back", "[intake][gate][quota]") {
  IntakeHandoff handoff{1};
  IntakeSignals signals;
  IntakeGate gate{MtaKind::postfix, BulkRules{}, handoff, signals, 1};
  VolumeLimits limits;
  limits.messages = 10;
  VolumeCounter counter(limits, nullptr);
  gate.count_volume(&counter, QuotaAction::fail_open);
  const std::vector<std::string> recipients{"a@one.test"};
  int diverted = 0;
  for (int i = 0; i < 4; ++i) {
    const std::string id = "Q" + std::to_string(i);
    if (gate.submit(bulk_evidence(), envelope_at(recipients, "s@x.test", id, kNoon)).action ==
        IntakeAction::divert)
      ++diverted;
  }
  CHECK(signals.fail_open_handoff >= 1);
  const VolumeSnapshot snapshot = counter.snapshot(std::chrono::system_clock::time_point(kNoon));
  CHECK(snapshot.global.messages == static_cast<std::uint64_t>(diverted));

  // A diverted message the MTA would not hold is refunded by the shim.
  const IntakeEnvelope envelope = envelope_at(recipients, "s@x.test", "Q9", kNoon);
  gate.refund_volume(envelope);
  CHECK(counter.snapshot(std::chrono::system_clock::time_point(kNoon)).global.messages ==
        static_cast<std::uint64_t>(diverted) - 1);
}
