// QueueMap's parts for delivery: refile, set_hold(connection_limit) and next_in_order.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/queue_map.h"
#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

// Takes everything `domain`'s queue has, as one batch.
Batch take_all(QueueMap& map, std::string_view domain, TimePoint now) {
  (void)now;
  Batch batch;
  const DomainQueue* found = map.find(domain);
  REQUIRE(found != nullptr);
  // take_batch needs a mutable queue: select until it is the one (it is the only eligible one in
  // the tests that use this helper).
  Selection selection = map.select(now);
  REQUIRE(selection.kind == Selection::Kind::ready);
  REQUIRE(selection.queue == found);
  map.take_batch(*selection.queue, 1000, batch);
  return batch;
}

// Builds the same map state in `map` each time: queues of different sizes and ages, some
// served (fair passes move), one backing off, one paused.
void build(QueueMap& map, FakeClock& clock) {
  const int sizes[] = {3, 1, 7, 2, 7, 5, 1, 4, 6, 2, 9, 3};
  MessageIndex message = 0;
  for (int d = 0; d < 12; ++d) {
    for (int k = 0; k < sizes[d]; ++k)
      map.file("d" + std::to_string(d) + ".test", message++, 0, clock.now());
    clock.advance(1s);
  }
  // Serve a few queues partially, so fair passes differ, and put their nodes back.
  for (int round = 0; round < 5; ++round) {
    Selection selection = map.select(clock.now());
    REQUIRE(selection.kind == Selection::Kind::ready);
    Batch batch;
    map.take_batch(*selection.queue, 2, batch);
    map.complete_batch(batch, batch.recipients, clock.now());
  }
  REQUIRE(map.defer("d4.test", clock.now() + 1h, clock.now()));
  REQUIRE(map.set_paused("d6.test", true, clock.now()));
}

}  // namespace

TEST_CASE("refile counts one more attempt and keeps the first-queued time",
          "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 7, 2, clock.now());
  const std::uint32_t first_queued = unix_seconds32(clock.now());
  Batch batch = take_all(map, "a.test", clock.now());
  REQUIRE(batch.recipients.size() == 1);
  CHECK(batch.recipients[0].attempts == 0);
  // The batch reported it deferred: it leaves the queue, which is extinguished.
  map.complete_batch(batch, {}, clock.now());
  CHECK(map.find("a.test") == nullptr);
  CHECK(map.queued_recipients() == 0);

  clock.advance(10min);
  map.refile("a.test", batch.recipients, clock.now());
  const DomainQueue* queue = map.find("a.test");
  REQUIRE(queue != nullptr);  // recreated
  CHECK(queue->size() == 1);
  CHECK(queue->created() == clock.now());
  CHECK(queue->oldest_enqueued() == first_queued);
  CHECK(map.queued_recipients() == 1);
  CHECK(map.eligible_queue_count() == 1);

  Batch again = take_all(map, "a.test", clock.now());
  REQUIRE(again.recipients.size() == 1);
  CHECK(again.recipients[0].message == 7);
  CHECK(again.recipients[0].recipient == 2);
  CHECK(again.recipients[0].attempts == 1);
  CHECK(again.recipients[0].enqueued == first_queued);
  map.complete_batch(again, {}, clock.now());

  clock.advance(10min);
  map.refile("a.test", again.recipients, clock.now());
  Batch third = take_all(map, "a.test", clock.now());
  REQUIRE(third.recipients.size() == 1);
  CHECK(third.recipients[0].attempts == 2);
  CHECK(third.recipients[0].enqueued == first_queued);
}

TEST_CASE("refile appends at the tail of a live queue", "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 1, 0, clock.now());
  Batch batch = take_all(map, "a.test", clock.now());
  map.complete_batch(batch, {}, clock.now());
  map.file("a.test", 2, 0, clock.now());
  const DomainQueue* queue = map.find("a.test");
  REQUIRE(queue != nullptr);
  const TimePoint created = queue->created();
  clock.advance(1min);
  map.refile("a.test", batch.recipients, clock.now());
  REQUIRE(map.find("a.test") == queue);
  CHECK(queue->created() == created);
  CHECK(queue->size() == 2);
  Batch both = take_all(map, "a.test", clock.now());
  REQUIRE(both.recipients.size() == 2);
  CHECK(both.recipients[0].message == 2);
  CHECK(both.recipients[1].message == 1);
  CHECK(both.recipients[1].attempts == 1);
}

TEST_CASE("refile of nothing creates no queue", "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.refile("a.test", {}, clock.now());
  CHECK(map.find("a.test") == nullptr);
  CHECK(map.queue_count() == 0);
}

TEST_CASE("refile keeps a backing-off queue out of selection", "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 1, 0, clock.now());
  Batch batch = take_all(map, "a.test", clock.now());
  map.file("a.test", 2, 0, clock.now());
  map.complete_batch(batch, {}, clock.now());
  REQUIRE(map.defer("a.test", clock.now() + 5min, clock.now()));
  map.refile("a.test", batch.recipients, clock.now());
  Selection selection = map.select(clock.now());
  CHECK(selection.kind == Selection::Kind::sleep_until);
  CHECK(selection.wake_at == clock.now() + 5min);
}

TEST_CASE("a connection-limit hold keeps a queue out of selection until cleared",
          "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 1, 0, clock.now());
  map.file("a.test", 2, 0, clock.now());
  map.file("b.test", 3, 0, clock.now());
  CHECK_FALSE(map.set_hold("none.test", QueueHold::connection_limit, true, clock.now()));

  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, true, clock.now()));
  const DomainQueue* a = map.find("a.test");
  REQUIRE(a != nullptr);
  CHECK(a->held(QueueHold::connection_limit));
  CHECK_FALSE(a->paused());
  CHECK(map.eligible_queue_count() == 1);
  std::vector<const DomainQueue*> order;
  map.next_in_order(10, order);
  REQUIRE(order.size() == 1);
  CHECK(order[0]->domain() == "b.test");
  Selection selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "b.test");
  Batch b;
  map.take_batch(*selection.queue, 10, b);
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);

  // The hold and a pause are separate bits.
  REQUIRE(map.set_paused("a.test", true, clock.now()));
  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, false, clock.now()));
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);
  REQUIRE(map.set_paused("a.test", false, clock.now()));
  selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "a.test");
}

TEST_CASE("clearing a connection-limit hold extinguishes an idle queue",
          "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 1, 0, clock.now());
  Batch batch = take_all(map, "a.test", clock.now());
  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, true, clock.now()));
  // The batch ends while the hold is on: the queue survives, empty.
  map.complete_batch(batch, {}, clock.now());
  const DomainQueue* queue = map.find("a.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 0);
  CHECK(queue->in_flight() == 0);
  CHECK(map.queue_count() == 1);

  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, false, clock.now()));
  CHECK(map.find("a.test") == nullptr);
  CHECK(map.queue_count() == 0);
  CHECK_FALSE(map.set_hold("a.test", QueueHold::connection_limit, false, clock.now()));
}

TEST_CASE("clearing a hold on a queue with nodes in flight keeps it", "[core][queue][delivery]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 1, 0, clock.now());
  Batch batch = take_all(map, "a.test", clock.now());
  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, true, clock.now()));
  REQUIRE(map.set_hold("a.test", QueueHold::connection_limit, false, clock.now()));
  REQUIRE(map.find("a.test") != nullptr);
  map.complete_batch(batch, {}, clock.now());
  CHECK(map.find("a.test") == nullptr);
}

TEST_CASE("next_in_order lists queues in select()'s order, at most count",
          "[core][queue][delivery]") {
  const SelectionPolicy policy =
      GENERATE(SelectionPolicy::fair, SelectionPolicy::largest, SelectionPolicy::oldest);
  const std::string policy_name(to_string(policy));
  CAPTURE(policy_name);
  FakeClock clock_a;
  FakeClock clock_b;
  QueueMap a(policy);
  QueueMap b(policy);
  build(a, clock_a);
  build(b, clock_b);
  REQUIRE(clock_a.now() == clock_b.now());

  std::vector<const DomainQueue*> listed;
  a.next_in_order(100, listed);
  CHECK(listed.size() == a.eligible_queue_count());
  CHECK(listed.size() == 10);  // 12 queues, one backing off, one paused

  std::vector<std::string> expected;
  for (;;) {
    Selection selection = b.select(clock_b.now());
    if (selection.kind != Selection::Kind::ready) break;
    expected.emplace_back(selection.queue->domain());
    Batch batch;
    b.take_batch(*selection.queue, 1000, batch);
  }
  std::vector<std::string> got;
  for (const DomainQueue* q : listed)
    got.emplace_back(q->domain());
  CHECK(got == expected);

  // The first is what select() would name now, and listing changed nothing.
  Selection first = a.select(clock_a.now());
  REQUIRE(first.kind == Selection::Kind::ready);
  CHECK(first.queue == listed.front());

  for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{10}}) {
    std::vector<const DomainQueue*> some;
    a.next_in_order(count, some);
    REQUIRE(some.size() == count);
    for (std::size_t i = 0; i < count; ++i)
      CHECK(some[i] == listed[i]);
  }
  // It appends.
  std::vector<const DomainQueue*> appended{nullptr};
  a.next_in_order(2, appended);
  REQUIRE(appended.size() == 3);
  CHECK(appended[0] == nullptr);
  CHECK(appended[1] == listed[0]);
}

TEST_CASE("next_in_order of an empty map lists nothing", "[core][queue][delivery]") {
  QueueMap map;
  std::vector<const DomainQueue*> out;
  map.next_in_order(5, out);
  CHECK(out.empty());
}
