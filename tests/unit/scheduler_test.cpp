#include "core/scheduler.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/message_builder.h"
#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

IntakeMessage make_message(MessageId id, const std::vector<std::string>& recipients,
                           TimePoint now) {
  MessageBuilder builder(MtaKind::postfix, "Q" + std::to_string(id), "sender@example.org", now);
  for (const auto& r : recipients)
    REQUIRE(builder.add_recipient(r).empty());
  BuildResult built = builder.build(id);
  REQUIRE(built.ok());
  return std::move(*built.message);
}

}  // namespace

TEST_CASE("admitting a message files one node per recipient by domain", "[core][scheduler]") {
  FakeClock clock;
  Scheduler scheduler(clock, {});
  const MessageIndex m = scheduler.admit(
      make_message(1, {"a@one.test", "b@two.test", "c@One.Test", "d@three.test"}, clock.now()));
  CHECK(scheduler.messages()[m].state() == MessageState::queued);
  CHECK(scheduler.queues().queue_count() == 3);
  CHECK(scheduler.queues().find("one.test")->size() == 2);
  CHECK(scheduler.queues().find("two.test")->size() == 1);
  CHECK(scheduler.queues().queued_recipients() == 4);
}

TEST_CASE("retried recipients keep their message's finished bits", "[core][scheduler]") {
  FakeClock clock;
  Scheduler scheduler(clock, {SelectionPolicy::fair, 100});
  const MessageIndex m = scheduler.admit(
      make_message(5, {"a@x.test", "b@x.test", "c@x.test", "d@y.test"}, clock.now()));

  Batch batch;
  REQUIRE(scheduler.next_batch(batch));
  REQUIRE(batch.domain == "x.test");
  REQUIRE(batch.recipients.size() == 3);
  std::vector<MessageIndex> finished;
  // a delivered, b retry, c bounced
  const std::vector<RecipientOutcome> outcomes{RecipientOutcome::delivered, RecipientOutcome::retry,
                                               RecipientOutcome::bounced};
  scheduler.complete(batch, outcomes, finished);
  CHECK(finished.empty());
  const MessageRecord& record = scheduler.messages()[m];
  CHECK(record.finished(0));
  CHECK_FALSE(record.finished(1));
  CHECK(record.finished(2));
  CHECK(record.finished_count() == 2);
  CHECK(record.attempts() == 1);

  // y.test comes next under the fair policy; then b again, alone, with its bits intact.
  REQUIRE(scheduler.next_batch(batch));
  CHECK(batch.domain == "y.test");
  scheduler.complete(batch, std::vector<RecipientOutcome>{RecipientOutcome::delivered}, finished);
  CHECK(finished.empty());

  REQUIRE(scheduler.next_batch(batch));
  REQUIRE(batch.domain == "x.test");
  REQUIRE(batch.recipients.size() == 1);
  CHECK(batch.recipients[0].recipient == 1);
  CHECK(batch.recipients[0].attempts == 1);
  CHECK(record.finished(0));
  CHECK(record.finished(2));
  scheduler.complete(batch, std::vector<RecipientOutcome>{RecipientOutcome::delivered}, finished);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0] == m);
  CHECK(scheduler.messages()[m].all_finished());
  scheduler.forget(m);
  CHECK(scheduler.messages().size() == 0);
  CHECK(scheduler.queues().queue_count() == 0);
  CHECK_FALSE(scheduler.next_batch(batch));
}

TEST_CASE("next_batch reports nothing while every queue backs off", "[core][scheduler]") {
  FakeClock clock;
  Scheduler scheduler(clock, {});
  (void)scheduler.admit(make_message(1, {"a@x.test"}, clock.now()));
  REQUIRE(scheduler.queues().defer("x.test", clock.now() + 10s, clock.now()));
  Batch batch;
  CHECK_FALSE(scheduler.next_batch(batch));
  CHECK(batch.empty());
  const Selection selection = scheduler.select();
  CHECK(selection.kind == Selection::Kind::sleep_until);
  clock.advance(10s);
  CHECK(scheduler.next_batch(batch));
}

TEST_CASE("admitting a round of messages files them all, sharing queues", "[core][scheduler]") {
  FakeClock clock;
  Scheduler scheduler(clock, {SelectionPolicy::largest, 1000});
  std::vector<std::unique_ptr<IntakeMessage>> round;
  for (MessageId id = 1; id <= 20; ++id) {
    auto message = std::make_unique<IntakeMessage>(
        make_message(id, {"a@shared.test", "b@own" + std::to_string(id) + ".test", "c@Shared.Test"},
                     clock.now()));
    round.push_back(std::move(message));
  }
  scheduler.admit(std::span(round));
  for (const auto& message : round)
    CHECK(message == nullptr);
  CHECK(scheduler.messages().size() == 20);
  CHECK(scheduler.queues().queue_count() == 21);
  CHECK(scheduler.queues().queued_recipients() == 60);
  REQUIRE(scheduler.queues().find("shared.test") != nullptr);
  CHECK(scheduler.queues().find("shared.test")->size() == 40);

  Batch batch;
  REQUIRE(scheduler.next_batch(batch));  // largest: shared.test, 40 recipients of 20 messages
  CHECK(batch.domain == "shared.test");
  REQUIRE(batch.message_count() == 20);
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    const auto group = batch.message_group(g);
    REQUIRE(group.size() == 2);
    CHECK(group[0].recipient == 0);
    CHECK(group[1].recipient == 2);
    CHECK(scheduler.messages()[group[0].message].id() == g + 1);  // arrival order kept
  }
}

TEST_CASE("a recovered message queues only its unfinished recipients", "[core][scheduler]") {
  FakeClock clock;
  Scheduler scheduler(clock, {});
  IntakeMessage message =
      make_message(9, {"a@one.test", "b@two.test", "c@one.test", "d@three.test"}, clock.now());
  message.record.set_finished(0);  // one.test keeps c
  message.record.set_finished(1);  // two.test has nothing left: no queue
  const MessageIndex m = scheduler.admit_recovered(std::move(message));
  CHECK(scheduler.messages()[m].finished_count() == 2);
  CHECK(scheduler.queues().queue_count() == 2);
  CHECK(scheduler.queues().find("two.test") == nullptr);
  REQUIRE(scheduler.queues().find("one.test") != nullptr);
  CHECK(scheduler.queues().find("one.test")->size() == 1);
  CHECK(scheduler.queues().queued_recipients() == 2);

  Batch batch;
  std::vector<MessageIndex> finished;
  while (scheduler.next_batch(batch)) {
    const std::vector<RecipientOutcome> delivered(batch.recipients.size(),
                                                  RecipientOutcome::delivered);
    for (const BatchRecipient& r : batch.recipients)
      CHECK((r.recipient == 2 || r.recipient == 3));
    scheduler.complete(batch, delivered, finished);
  }
  CHECK(finished == std::vector<MessageIndex>{m});
}
