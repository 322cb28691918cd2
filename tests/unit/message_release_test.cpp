// bulkqctl release on the scheduler thread's side, with fakes: the core's withdrawal of a
// message from every domain queue, and MessageRelease over a real DeliveryEngine (sessions in
// flight are busy, recipients waiting out a retry delay leave with their message), the journal
// and a spool that records what it was asked to hand back.
#include "delivery/message_release.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "admin/release_reply.h"
#include "core/message_builder.h"
#include "delivery/delivery_engine.h"
#include "fakes/fake_bounce_sender.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_delivery_routes.h"
#include "fakes/fake_journal.h"
#include "fakes/fake_smtp_sessions.h"
#include "fakes/fake_spool.h"
#include "intake/intake_engine.h"
#include "journal/journal_record.h"

using namespace bulkq;
using bulkq::testing::FakeBounceSender;
using bulkq::testing::FakeClock;
using bulkq::testing::FakeDeliveryRoutes;
using bulkq::testing::FakeJournal;
using bulkq::testing::FakeSmtpSessions;
using bulkq::testing::FakeSpool;

namespace {

// FakeSpool plus release(): each call is noted with the finished indexes it was given; a queue
// id in `fail` fails with that error (`gone` ones as a missing file).
class ReleasingSpool final : public SpoolAdapter {
 public:
  FakeSpool inner;
  std::map<std::string, std::vector<RecipientIndex>> released;
  std::map<std::string, std::string> fail;
  std::vector<std::string> gone;

  HeldFileCheck check(std::string_view id) override { return inner.check(id); }
  HeldEnvelopeResult read_envelope(std::string_view id) override { return inner.read_envelope(id); }
  SpoolResult stream_message(std::string_view id,
                             const std::function<void(std::string_view)>& on_line) override {
    return inner.stream_message(id, on_line);
  }
  HeldMessageOpenResult open_message(std::string_view id) override {
    return inner.open_message(id);
  }
  SpoolResult remove(std::string_view id) override { return inner.remove(id); }
  SpoolResult list_held(const std::function<void(std::string_view)>& visit) override {
    return inner.list_held(visit);
  }
  SpoolReleaseResult release(std::string_view id,
                             std::span<const RecipientIndex> finished) override {
    SpoolReleaseResult result;
    const std::string key(id);
    if (std::find(gone.begin(), gone.end(), key) != gone.end()) {
      result.gone = true;
      result.error = "hold/" + key + " is gone";
      return result;
    }
    if (const auto it = fail.find(key); it != fail.end()) {
      result.error = it->second;
      return result;
    }
    released[key] = std::vector<RecipientIndex>(finished.begin(), finished.end());
    const std::size_t total = inner.read_envelope(id).envelope.recipients.size();
    result.recipients = static_cast<std::uint32_t>(total - finished.size());
    result.marked_done = static_cast<std::uint32_t>(finished.size());
    (void)inner.remove(id);
    return result;
  }
};

DeliveryEngineOptions grouped(bool group_commit) {
  DeliveryEngineOptions options;
  options.group_commit = group_commit;
  return options;
}

struct Harness {
  explicit Harness(bool group_commit = false)
      : scheduler(clock, SchedulerLimits{}),
        engine(clock, scheduler, journal, spool, routes, sessions.starter(), bounces,
               grouped(group_commit), {}, {}) {}

  MessageIndex add(MessageId id, const std::vector<std::string>& recipients) {
    const std::string queue_id = "Q" + std::to_string(id);
    MessageBuilder builder(MtaKind::postfix, queue_id, "sender@example.org", clock.now());
    HeldEnvelope envelope;
    envelope.queue_id = queue_id;
    for (const std::string& r : recipients) {
      REQUIRE(builder.add_recipient(r).empty());
      envelope.recipients.push_back(HeldRecipient{r, false});
    }
    BuildResult built = builder.build(id);
    REQUIRE(built.ok());
    const MessageIndex m = scheduler.admit(std::move(*built.message));
    spool.inner.hold(envelope);
    REQUIRE(journal.begin_batch().ok());
    REQUIRE(journal.put(id, make_journal_record(scheduler.messages()[m])).ok());
    REQUIRE(journal.commit_batch().ok());
    return m;
  }

  ReleaseReport release(std::string_view domain, std::size_t step = 1000) {
    MessageReleaseHooks hooks;
    hooks.on_removed = [this](std::uint64_t) { ++removed; };
    MessageRelease release(scheduler, journal, spool, &engine, hooks);
    release.start(domain);
    while (!release.step(step)) {
      REQUIRE_FALSE(release.failed_to_start());
    }
    return release.report();
  }

  [[nodiscard]] std::uint64_t waiting(std::string_view domain) const {
    return scheduler.queues().find(domain) == nullptr ? 0 : scheduler.queues().find(domain)->size();
  }

  FakeClock clock;
  FakeJournal journal;
  ReleasingSpool spool;
  Scheduler scheduler;
  FakeDeliveryRoutes routes;
  FakeSmtpSessions sessions;
  FakeBounceSender bounces;
  DeliveryEngine engine;
  int removed = 0;
};

}  // namespace

TEST_CASE("withdraw: a message's nodes leave every domain queue; emptied queues go",
          "[core][release]") {
  FakeClock clock;
  Scheduler scheduler(clock, SchedulerLimits{});
  const auto admit = [&](MessageId id, std::vector<std::string> recipients) {
    MessageBuilder builder(MtaKind::postfix, "Q" + std::to_string(id), "s@example.org",
                           clock.now());
    for (const std::string& r : recipients)
      REQUIRE(builder.add_recipient(r).empty());
    BuildResult built = builder.build(id);
    REQUIRE(built.ok());
    return scheduler.admit(std::move(*built.message));
  };
  const MessageIndex a = admit(1, {"a1@one.test", "a2@two.test", "a3@one.test"});
  const MessageIndex b = admit(2, {"b1@one.test", "b2@three.test"});
  const MessageIndex c = admit(3, {"c1@two.test"});
  REQUIRE(scheduler.queues().queue_count() == 3);
  REQUIRE(scheduler.queues().queued_recipients() == 6);

  const std::vector<MessageIndex> gone{a, c};
  CHECK(scheduler.withdraw(gone) == 4);
  CHECK(scheduler.messages().size() == 1);
  CHECK(scheduler.messages().contains(b));
  CHECK_FALSE(scheduler.messages().contains(a));
  CHECK(scheduler.queues().queued_recipients() == 2);
  CHECK(scheduler.queues().queue_count() == 2);  // two.test had only a's and c's: gone
  CHECK(scheduler.queues().find("two.test") == nullptr);
  REQUIRE(scheduler.queues().find("one.test") != nullptr);
  CHECK(scheduler.queues().find("one.test")->size() == 1);
  CHECK(scheduler.queues().find("one.test")->nodes()[0].message == b);

  // The rest is still served normally.
  Batch batch;
  std::vector<std::string> served;
  while (scheduler.next_batch(batch)) {
    served.emplace_back(batch.domain);
    for (const BatchRecipient& r : batch.recipients)
      CHECK(r.message == b);
    std::vector<MessageIndex> finished;
    const std::vector<RecipientOutcome> outcomes(batch.recipients.size(),
                                                 RecipientOutcome::delivered);
    scheduler.complete(batch, outcomes, finished);
  }
  std::sort(served.begin(), served.end());
  CHECK(served == std::vector<std::string>{"one.test", "three.test"});
  CHECK(scheduler.queues().queue_count() == 0);
}

TEST_CASE("withdraw: a paused queue emptied by it stays (the pause is kept)", "[core][release]") {
  FakeClock clock;
  Scheduler scheduler(clock, SchedulerLimits{});
  MessageBuilder builder(MtaKind::postfix, "Q1", "s@example.org", clock.now());
  REQUIRE(builder.add_recipient("a@p.test").empty());
  BuildResult built = builder.build(1);
  REQUIRE(built.ok());
  const MessageIndex m = scheduler.admit(std::move(*built.message));
  REQUIRE(scheduler.queues().pause_domain("p.test", true, clock.now()));
  const std::vector<MessageIndex> gone{m};
  CHECK(scheduler.withdraw(gone) == 1);
  REQUIRE(scheduler.queues().find("p.test") != nullptr);
  CHECK(scheduler.queues().find("p.test")->size() == 0);
  CHECK(scheduler.queues().queued_recipients() == 0);
}

TEST_CASE("release D: messages with recipients for D, whole, with their finished recipients",
          "[release]") {
  Harness h;
  h.add(1, {"a@d.test", "b@other.test", "c@other.test"});
  h.add(2, {"x@other.test"});
  h.add(3, {"y@d.test"});

  // other.test's batch goes out first (largest under the fair policy's tie-break is not
  // guaranteed), so send everything and answer: other.test's b delivered, c deferred 450.
  REQUIRE(h.engine.pump());
  while (h.sessions.open() > 0) {
    h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
      if (r.address == "b@other.test") return FakeSmtpSessions::reply(250, SmtpStage::rcpt_to);
      return FakeSmtpSessions::reply(450, SmtpStage::rcpt_to, "try later");
    });
  }
  // Every recipient but b now waits out a retry delay in the engine, nothing in the queues.
  REQUIRE(h.engine.counters().waiting_retry == 4);
  REQUIRE(h.scheduler.queues().queued_recipients() == 0);

  const ReleaseReport report = h.release("d.test");
  CHECK(report.released == 2);
  CHECK(report.recipients == 3);  // 1: a, c (b was delivered); 3: y
  CHECK(report.busy == 0);
  CHECK(report.failed == 0);
  CHECK(report.remaining == 0);
  CHECK(report.error.empty());
  CHECK(report.queue_ids == std::vector<std::string>{"Q1", "Q3"});
  CHECK(h.spool.released.at("Q1") == std::vector<RecipientIndex>{1});  // b is done
  CHECK(h.spool.released.at("Q3").empty());
  CHECK(h.spool.released.count("Q2") == 0);
  // Gone from bulkq: records, journal, retry waits (x@other.test of message 2 stays).
  CHECK(h.scheduler.messages().size() == 1);
  CHECK(h.journal.committed().count(1) == 0);
  CHECK(h.journal.committed().count(3) == 0);
  CHECK(h.journal.committed().count(2) == 1);
  CHECK(h.engine.counters().waiting_retry == 1);
  CHECK(h.removed == 2);

  // The rest, with --all.
  const ReleaseReport rest = h.release("");
  CHECK(rest.released == 1);
  CHECK(rest.recipients == 1);
  CHECK(h.scheduler.messages().size() == 0);
  CHECK(h.engine.counters().waiting_retry == 0);
  CHECK(h.journal.committed().empty());
}

TEST_CASE("release: a message in a session is busy; a failure stays; a gone file is dropped",
          "[release]") {
  Harness h;
  h.add(1, {"a@fly.test"});
  h.add(2, {"b@wait.test", "c@fly.test"});
  h.add(3, {"d@wait.test"});
  h.add(4, {"e@wait.test"});
  h.add(5, {"f@wait.test"});
  REQUIRE(h.scheduler.queues().pause_domain("wait.test", true, h.clock.now()));
  REQUIRE(h.engine.pump());  // fly.test's batch (messages 1 and 2) is out now
  REQUIRE(h.sessions.open() == 1);
  h.spool.fail["Q3"] = "cannot open hold/Q3: Permission denied";
  h.spool.gone.push_back("Q4");

  const ReleaseReport report = h.release("", 2);  // two per step: four steps
  CHECK(report.released == 1);                    // 5
  CHECK(report.recipients == 1);
  CHECK(report.busy == 2);    // 1 and 2
  CHECK(report.failed == 2);  // 3 and 4
  CHECK(report.error == "cannot open hold/Q3: Permission denied");
  CHECK(report.queue_ids == std::vector<std::string>{"Q5"});
  CHECK(h.scheduler.messages().size() == 3);  // 1, 2 (busy), 3 (failed): still bulkq's
  CHECK(h.journal.committed().count(3) == 1);
  CHECK(h.journal.committed().count(4) == 0);  // its file is gone: the record too
  CHECK(h.journal.committed().count(5) == 0);
  CHECK(h.waiting("wait.test") == 2);  // b (2) and d (3)

  // The session ends; the request runs again: 1 and 2 go (a was delivered).
  h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
    return FakeSmtpSessions::reply(r.address == "a@fly.test" ? 250 : 450, SmtpStage::rcpt_to);
  });
  h.spool.fail.clear();
  const ReleaseReport again = h.release("");
  CHECK(again.busy == 0);
  CHECK(again.failed == 0);
  CHECK(again.released == 2);  // 1 was finished and removed by delivery: 2 and 3 remain
  CHECK(h.scheduler.messages().size() == 0);
  CHECK(h.scheduler.queues().queued_recipients() == 0);
  CHECK(h.engine.counters().waiting_retry == 0);
}

TEST_CASE("release: outcomes not yet committed are committed first; if they cannot be, nothing",
          "[release]") {
  Harness h(true);  // group commit: a session's bits wait for commit()
  h.add(1, {"a@x.test", "b@y.test"});
  REQUIRE(h.engine.pump());
  REQUIRE(h.sessions.open() == 2);
  while (h.sessions.open() > 0) {
    h.sessions.complete_with(0, [](std::size_t, const SmtpRecipient& r) {
      return FakeSmtpSessions::reply(r.address == "a@x.test" ? 250 : 450, SmtpStage::rcpt_to);
    });
  }
  REQUIRE(h.engine.commit_pending());

  h.journal.fail_writes();
  {
    MessageRelease release(h.scheduler, h.journal, h.spool, &h.engine, {});
    release.start("");
    CHECK_FALSE(release.step(100));
    CHECK(release.failed_to_start());
    CHECK(release.report().released == 0);
    CHECK(release.report().remaining == 1);
    CHECK_FALSE(release.report().error.empty());
  }
  CHECK(h.spool.released.empty());
  CHECK(h.scheduler.messages().size() == 1);

  h.journal.heal();
  const ReleaseReport report = h.release("y.test");
  CHECK(report.released == 1);
  CHECK(report.recipients == 1);
  CHECK(h.spool.released.at("Q1") == std::vector<RecipientIndex>{0});  // a was sent
  CHECK(h.journal.committed().empty());
  CHECK_FALSE(h.engine.commit_pending());
}

TEST_CASE("release: a crash between the move and the record's removal loses nothing",
          "[release][recovery]") {
  Harness h;
  h.add(1, {"a@x.test", "b@x.test"});
  h.add(2, {"c@x.test"});
  // The journal refuses the removal, as if bulkqd died right after the files left hold.
  h.journal.fail_writes();
  const ReleaseReport report = h.release("");
  CHECK(report.released == 2);
  CHECK(h.spool.released.size() == 2);
  CHECK(h.scheduler.messages().size() == 0);
  h.journal.heal();
  REQUIRE(h.journal.committed().size() == 2);  // the records outlived their held files

  // The next start: recovery finds the records, no held file: dropped, nothing queued again.
  FakeClock clock;
  Scheduler scheduler(clock, SchedulerLimits{});
  IntakeHandoff handoff(16);
  IntakeSignals signals;
  std::vector<std::string> lines;
  IntakeEngine engine(clock, scheduler, handoff, h.journal, h.spool, signals, IntakeEngineOptions{},
                      [&lines](LogLevel, std::string_view line) { lines.emplace_back(line); });
  const RecoveryReport recovered = engine.recover();
  CHECK(recovered.dropped == 2);
  CHECK(recovered.recovered == 0);
  CHECK(recovered.adopted == 0);
  CHECK(scheduler.messages().size() == 0);
  CHECK(h.journal.committed().empty());
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
          return line.find("dropped: its held file is gone") != std::string::npos;
        }) == 2);
}

TEST_CASE("release without delivery (delivery.enabled = false): from the queues alone",
          "[release]") {
  Harness h;
  h.add(1, {"a@x.test", "b@y.test"});
  h.add(2, {"c@y.test"});
  h.add(3, {"d@z.test"});
  MessageRelease release(h.scheduler, h.journal, h.spool, nullptr, {});
  release.start("y.test");
  CHECK_FALSE(release.step(1));  // one per step: the first of two
  CHECK(release.report().remaining == 1);
  CHECK(release.step(1));
  const ReleaseReport report = release.report();
  CHECK(report.released == 2);
  CHECK(report.recipients == 3);
  CHECK(report.remaining == 0);
  CHECK(h.scheduler.messages().size() == 1);
  CHECK(h.scheduler.queues().find("x.test") == nullptr);
  CHECK(h.scheduler.queues().find("y.test") == nullptr);
  REQUIRE(h.scheduler.queues().find("z.test") != nullptr);
  CHECK(h.scheduler.queues().queued_recipients() == 1);
  CHECK(h.journal.committed().size() == 1);
}

TEST_CASE("release reply: JSON with counts, the first error and at most 100 ids", "[release]") {
  ReleaseReport report;
  report.released = 2;
  report.recipients = 7;
  report.busy = 1;
  report.failed = 1;
  report.remaining = 3;
  report.error = "hold/Q9 is \"gone\"";
  report.queue_ids = {"Q1", "Q2"};
  CHECK(release_reply_json(report) ==
        R"({"ok":true,"released":2,"recipients":7,"busy":1,"failed":1,"remaining":3,)"
        R"("error":"hold/Q9 is \"gone\"","queue_ids":["Q1","Q2"]})");
  CHECK(release_reply_json(ReleaseReport{}) ==
        R"({"ok":true,"released":0,"recipients":0,"busy":0,"failed":0,"remaining":0,)"
        R"("error":"","queue_ids":[]})");
}
