#include "intake/intake_engine.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fakes/fake_clock.h"
#include "fakes/fake_journal.h"
#include "fakes/fake_spool.h"
#include "intake/intake_gate.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;
using bulkq::testing::FakeJournal;
using bulkq::testing::FakeSpool;

namespace {

HeldEnvelope envelope_of(std::string queue_id, std::optional<MessageId> marker,
                         std::vector<std::string> recipients) {
  HeldEnvelope envelope;
  envelope.queue_id = std::move(queue_id);
  envelope.sender = "news@sender.test";
  envelope.arrival_unix_ms = 1'800'000'000'000;
  envelope.marker = marker;
  for (std::string& r : recipients)
    envelope.recipients.push_back({std::move(r), false});
  return envelope;
}

MessageEvidence bulk_evidence() {
  MessageEvidence evidence;
  evidence.headers.push_back({"Precedence", "bulk"});
  return evidence;
}

struct EngineFixture {
  FakeClock clock;
  Scheduler scheduler{clock, {}};
  IntakeHandoff handoff{64};
  FakeJournal journal;
  FakeSpool spool;
  IntakeSignals signals;
  std::vector<std::string> lines;
  IntakeEngineOptions options = [] {
    IntakeEngineOptions o;
    o.commit_timeout = 60s;
    return o;
  }();
  IntakeEngine engine{
      clock,   scheduler,
      handoff, journal,
      spool,   signals,
      options, [this](LogLevel, std::string_view line) { lines.emplace_back(line); }};
  IntakeGate gate{MtaKind::postfix, BulkRules{}, handoff, signals, 1};

  IntakeDecision divert(const std::string& queue_id, std::vector<std::string> recipients) {
    IntakeEnvelope envelope;
    envelope.queue_id = queue_id;
    envelope.sender = "news@sender.test";
    envelope.recipients = recipients;
    envelope.arrived = clock.now();
    return gate.submit(bulk_evidence(), envelope);
  }

  JournalRecord stored(MessageId id) {
    const auto it = journal.committed().find(id);
    REQUIRE(it != journal.committed().end());
    const DecodedJournalRecord decoded = decode_journal_record(it->second);
    REQUIRE(decoded.ok());
    return decoded.record;
  }

  bool logged(std::string_view text) const {
    for (const std::string& line : lines)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("a diverted message waits for the MTA's commit, then is queued", "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QID1", {"a@one.test", "b@two.test", "c@one.test"});
  REQUIRE(d.action == IntakeAction::divert);

  f.engine.step();
  CHECK(f.engine.pending_count() == 1);
  CHECK(f.stored(d.id).state == MessageState::pending_commit);
  CHECK(f.stored(d.id).queue_id == "QID1");
  CHECK(f.scheduler.messages().size() == 0);

  f.spool.hold(envelope_of("QID1", d.id, {"a@one.test", "b@two.test", "c@one.test"}),
               HeldFileState::incomplete);
  f.engine.step();
  CHECK(f.engine.pending_count() == 1);

  f.spool.set_state("QID1", HeldFileState::committed);
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.stored(d.id).state == MessageState::queued);
  const EngineStatus status = f.engine.status();
  CHECK(status.messages == 1);
  CHECK(status.recipients == 3);
  CHECK(status.domains == 2);
  CHECK(status.pending_commit == 0);
  CHECK(status.diverted_total == 1);
  CHECK(f.signals.memory_bytes > 0);
}

TEST_CASE("the held file's recipients win over what the milter saw", "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QID2", {"list@one.test"});
  f.engine.step();
  // A virtual alias expanded the one recipient into two, in other domains.
  f.spool.hold(envelope_of("QID2", d.id, {"x@two.test", "y@three.test"}));
  f.engine.step();
  CHECK(f.scheduler.queues().find("one.test") == nullptr);
  CHECK(f.scheduler.queues().find("two.test") != nullptr);
  CHECK(f.scheduler.queues().find("three.test") != nullptr);
  CHECK(f.stored(d.id).recipient_count == 2);
}

TEST_CASE("a held file with another message's marker is not taken for ours", "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QID3", {"a@one.test"});
  f.engine.step();
  f.spool.hold(envelope_of("QID3", d.id + 1000, {"z@other.test"}));
  f.engine.step();
  CHECK(f.engine.pending_count() == 1);
  CHECK(f.scheduler.messages().size() == 0);

  f.clock.advance(61s);
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.engine.status().commit_expired_total == 1);
  CHECK(f.journal.committed().count(d.id) == 0);
  CHECK(f.logged("QID3: message 1 forgotten"));
}

TEST_CASE("a message the MTA never commits is forgotten after the timeout", "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QID4", {"a@one.test"});
  f.engine.step();
  f.clock.advance(59s);
  f.engine.step();
  CHECK(f.engine.pending_count() == 1);
  f.clock.advance(2s);
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.journal.committed().count(d.id) == 0);
}

TEST_CASE("an unreadable held file is reported and left in the hold queue", "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QID5", {"a@one.test"});
  f.engine.step();
  f.spool.hold(envelope_of("QID5", d.id, {"a@one.test"}));
  f.spool.corrupt("QID5", "offset 93: truncated record");
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.scheduler.messages().size() == 0);
  CHECK(f.spool.has("QID5"));
  CHECK(f.logged("offset 93: truncated record"));
  CHECK(f.journal.committed().count(d.id) == 0);
}

TEST_CASE("a failing journal makes the intake fail open until it works again", "[intake][engine]") {
  EngineFixture f;
  f.journal.fail_writes(JournalErrorKind::map_full, "MDB_MAP_FULL");
  REQUIRE(f.divert("QID6", {"a@one.test"}).action == IntakeAction::divert);
  f.engine.step();
  CHECK_FALSE(f.signals.journal_ok);
  CHECK_FALSE(f.engine.status().journal_ok);
  CHECK(f.engine.status().journal_error.find("MDB_MAP_FULL") != std::string::npos);
  CHECK(f.divert("QID7", {"a@one.test"}).action == IntakeAction::fail_open);
  CHECK(f.signals.fail_open_journal == 1);

  f.journal.heal();
  f.spool.hold(envelope_of("QID6", 1, {"a@one.test"}));
  f.engine.step();  // the commit of QID6 writes and succeeds
  CHECK(f.signals.journal_ok);
  CHECK(f.divert("QID8", {"a@one.test"}).action == IntakeAction::divert);
}

TEST_CASE("the memory estimate makes the intake fail open at the limit", "[intake][engine]") {
  EngineFixture f;
  f.options.memory_limit_bytes = 1;  // any message is over it
  IntakeEngine engine(f.clock, f.scheduler, f.handoff, f.journal, f.spool, f.signals, f.options,
                      {});
  REQUIRE(f.divert("QID9", {"a@one.test"}).action == IntakeAction::divert);
  engine.step();
  CHECK(f.divert("QIDA", {"a@one.test"}).action == IntakeAction::fail_open);
  CHECK(f.signals.fail_open_memory == 1);
}

TEST_CASE("recovery rebuilds queues, adopts, drops and finishes", "[intake][engine][recovery]") {
  EngineFixture f;
  auto put = [&f](MessageId id, const std::string& queue_id, std::uint32_t count,
                  std::vector<RecipientIndex> finished, MessageState state) {
    JournalRecord record = JournalRecord::with_recipients(count);
    record.queue_id = queue_id;
    record.state = state;
    record.attempts = 2;
    for (RecipientIndex r : finished)
      record.set_finished(r);
    REQUIRE(f.journal.begin_batch().ok());
    REQUIRE(f.journal.put(id, record).ok());
    REQUIRE(f.journal.commit_batch().ok());
  };
  // 10: three recipients, the first finished → two queued.
  put(10, "Q10", 3, {0}, MessageState::queued);
  f.spool.hold(envelope_of("Q10", 10, {"a@one.test", "b@two.test", "c@two.test"}));
  // 11: its held file is gone → dropped.
  put(11, "Q11", 1, {}, MessageState::queued);
  // 12: every recipient finished before the kill → file removed, record removed.
  put(12, "Q12", 2, {0, 1}, MessageState::queued);
  f.spool.hold(envelope_of("Q12", 12, {"a@one.test", "b@one.test"}));
  // 17: every recipient finished and the file already removed (killed between the removal and
  // the record's) → finished too, without a warning.
  put(17, "Q17", 1, {0}, MessageState::queued);
  // 13: pending, file not complete yet → waits again.
  put(13, "Q13", 1, {}, MessageState::pending_commit);
  f.spool.hold(envelope_of("Q13", 13, {"a@one.test"}), HeldFileState::incomplete);
  // 14: the queue id now names another message (marker 99) → dropped; 99 has no record →
  // adopted.
  put(14, "Q14", 1, {}, MessageState::queued);
  f.spool.hold(envelope_of("Q14", 99, {"n@new.test"}));
  // A held file with our marker and no record → adopted.
  f.spool.hold(envelope_of("Q20", 20, {"x@three.test", "y@three.test"}));
  // A held file without a marker (an admin's hold) → left alone.
  f.spool.hold(envelope_of("QADMIN", std::nullopt, {"boss@one.test"}));
  // A record whose held file cannot be read → left as it is.
  put(15, "Q15", 1, {}, MessageState::queued);
  f.spool.hold(envelope_of("Q15", 15, {"a@one.test"}));
  f.spool.corrupt("Q15", "offset 7: bad record length");
  // The MTA itself delivered one recipient of 16 (Postfix `D`).
  put(16, "Q16", 2, {}, MessageState::queued);
  HeldEnvelope partly = envelope_of("Q16", 16, {"d@four.test", "e@four.test"});
  partly.recipients[0].done = true;
  f.spool.hold(partly);

  const RecoveryReport report = f.engine.recover();
  CHECK(report.recovered == 2);  // 10, 16
  CHECK(report.adopted == 2);    // 20, 99 (under Q14)
  CHECK(report.dropped == 2);    // 11, 14
  CHECK(report.finished == 2);   // 12, 17
  CHECK(report.pending == 1);    // 13
  CHECK(report.errors == 1);     // 15
  CHECK(report.next_id == 100);
  CHECK(report.journal_ok);

  CHECK(f.scheduler.messages().size() == 4);  // 10, 16, 20, 99
  CHECK(f.scheduler.queues().find("one.test") == nullptr);
  CHECK(f.scheduler.queues().find("two.test")->size() == 2);
  CHECK(f.scheduler.queues().find("three.test")->size() == 2);
  CHECK(f.scheduler.queues().find("four.test")->size() == 1);
  CHECK(f.scheduler.queues().find("new.test")->size() == 1);
  CHECK(f.engine.pending_count() == 1);

  CHECK(f.journal.committed().count(11) == 0);
  CHECK(f.journal.committed().count(12) == 0);
  CHECK(f.journal.committed().count(14) == 0);
  CHECK(f.journal.committed().count(15) == 1);
  CHECK(f.stored(20).state == MessageState::queued);
  CHECK(f.stored(99).queue_id == "Q14");
  CHECK(f.stored(10).finished(0));
  CHECK(f.stored(10).attempts == 2);
  CHECK(f.stored(16).finished(0));
  CHECK(f.spool.removed() == std::vector<std::string>{"Q12"});
  CHECK(f.spool.has("QADMIN"));
  CHECK(f.logged("Q11: journal record of message 11 dropped"));
  CHECK_FALSE(f.logged("Q17"));
  CHECK(f.journal.committed().count(17) == 0);
  CHECK(f.logged("1 held message(s) without bulkq's marker left alone"));

  const EngineStatus status = f.engine.status();
  CHECK(status.recovered_messages == 2);
  CHECK(status.adopted_messages == 2);
  CHECK(status.dropped_records == 2);
  CHECK(status.recipients == 6);
}

TEST_CASE("a record recovery found pending is queued when its file completes",
          "[intake][engine][recovery]") {
  EngineFixture f;
  JournalRecord record = JournalRecord::with_recipients(1);
  record.queue_id = "Q30";
  REQUIRE(f.journal.begin_batch().ok());
  REQUIRE(f.journal.put(30, record).ok());
  REQUIRE(f.journal.commit_batch().ok());
  f.spool.hold(envelope_of("Q30", 30, {"a@one.test"}), HeldFileState::incomplete);
  REQUIRE(f.engine.recover().pending == 1);
  f.spool.set_state("Q30", HeldFileState::committed);
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.scheduler.queues().find("one.test")->size() == 1);
  CHECK(f.stored(30).state == MessageState::queued);
}

TEST_CASE("a held file that cannot be checked is reported once, not every round",
          "[intake][engine]") {
  EngineFixture f;
  const IntakeDecision d = f.divert("QIDB", {"a@one.test"});
  f.engine.step();
  f.spool.hold(envelope_of("QIDB", d.id, {"a@one.test"}), HeldFileState::error);
  for (int round = 0; round < 5; ++round)
    f.engine.step();
  CHECK(std::count_if(f.lines.begin(), f.lines.end(), [](const std::string& line) {
          return line.find("fake: EACCES") != std::string::npos;
        }) == 1);
  f.spool.set_state("QIDB", HeldFileState::committed);
  f.engine.step();
  CHECK(f.engine.pending_count() == 0);
  CHECK(f.scheduler.messages().size() == 1);
}
