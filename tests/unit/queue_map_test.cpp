#include "core/queue_map.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

TEST_CASE("a queue is created by its first node and extinguished by its last", "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  CHECK(map.find("example.com") == nullptr);

  map.file("example.com", 0, 0, clock.now());
  const DomainQueue* queue = map.find("example.com");
  REQUIRE(queue != nullptr);
  CHECK(queue->domain() == "example.com");
  CHECK(queue->size() == 1);
  CHECK(queue->created() == clock.now());
  CHECK(map.queue_count() == 1);

  clock.advance(2s);
  map.file("example.com", 1, 0, clock.now());
  CHECK(queue->size() == 2);
  CHECK(queue->created() == clock.now() - 2s);  // creation time is kept
  CHECK(queue->oldest_enqueued() == unix_seconds32(clock.now() - 2s));
  CHECK(map.queued_recipients() == 2);

  Batch batch;
  Selection selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  map.take_batch(*selection.queue, 10, batch);
  CHECK(batch.recipients.size() == 2);
  // Nodes in flight keep the queue alive, empty as it is.
  REQUIRE(map.find("example.com") != nullptr);
  CHECK(map.find("example.com")->size() == 0);
  CHECK(map.find("example.com")->in_flight() == 2);
  CHECK(map.in_flight_recipients() == 2);
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);

  map.complete_batch(batch, {}, clock.now());
  CHECK(map.find("example.com") == nullptr);
  CHECK(map.queue_count() == 0);
  CHECK(map.queued_recipients() == 0);
  CHECK(map.in_flight_recipients() == 0);
}

TEST_CASE("a retried recipient revives its queue at the head", "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  map.file("a.test", 0, 0, clock.now());
  map.file("a.test", 1, 0, clock.now());
  Batch batch;
  Selection selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  map.take_batch(*selection.queue, 1, batch);
  REQUIRE(batch.recipients.size() == 1);
  CHECK(batch.recipients[0].message == 0);

  map.complete_batch(batch, batch.recipients, clock.now());
  const DomainQueue* queue = map.find("a.test");
  REQUIRE(queue != nullptr);
  CHECK(queue->size() == 2);
  CHECK(queue->in_flight() == 0);

  Batch again;
  selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  map.take_batch(*selection.queue, 10, again);
  REQUIRE(again.recipients.size() == 2);
  CHECK(again.recipients[0].message == 0);  // the retried one first: it is older
  CHECK(again.recipients[0].attempts == 1);
  CHECK(again.recipients[1].message == 1);
  CHECK(again.recipients[1].attempts == 0);
}

TEST_CASE("a deferred queue sleeps until its next attempt", "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  map.file("slow.test", 0, 0, clock.now());
  REQUIRE(map.defer("slow.test", clock.now() + 30s, clock.now()));
  CHECK(map.find("slow.test")->next_attempt() == clock.now() + 30s);

  Selection selection = map.select(clock.now());
  CHECK(selection.kind == Selection::Kind::sleep_until);
  CHECK(selection.wake_at == clock.now() + 30s);

  map.file("fast.test", 1, 0, clock.now());  // others are not held back
  selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "fast.test");

  clock.advance(29s);
  Batch batch;
  map.take_batch(*selection.queue, 10, batch);
  map.complete_batch(batch, {}, clock.now());
  CHECK(map.select(clock.now()).kind == Selection::Kind::sleep_until);
  clock.advance(1s);
  selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "slow.test");
  CHECK_FALSE(map.defer("nowhere.test", clock.now(), clock.now()));
}

TEST_CASE("a paused queue is never selected and survives empty", "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  map.file("p.test", 0, 0, clock.now());
  REQUIRE(map.set_paused("p.test", true, clock.now()));
  CHECK(map.find("p.test")->paused());
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);

  REQUIRE(map.set_paused("p.test", false, clock.now()));
  Selection selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  Batch batch;
  map.take_batch(*selection.queue, 10, batch);
  REQUIRE(map.set_paused("p.test", true, clock.now()));  // paused while the batch is out
  map.complete_batch(batch, {}, clock.now());
  REQUIRE(map.find("p.test") != nullptr);  // the pause is remembered though the queue is empty
  CHECK(map.find("p.test")->size() == 0);
  REQUIRE(map.set_paused("p.test", false, clock.now()));
  CHECK(map.find("p.test") == nullptr);  // resumed and empty: extinguished
  CHECK_FALSE(map.set_paused("nowhere.test", true, clock.now()));
}

TEST_CASE("an administrator's pause holds a domain before and after its queue exists",
          "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  // Paused with no queue: the queue mail creates later starts paused.
  CHECK(map.pause_domain("later.test", true, clock.now()));
  CHECK_FALSE(map.pause_domain("later.test", true, clock.now()));  // already
  CHECK(map.domain_paused("later.test"));
  CHECK(map.find("later.test") == nullptr);
  map.file("later.test", 0, 0, clock.now());
  map.file("other.test", 1, 0, clock.now());
  REQUIRE(map.find("later.test") != nullptr);
  CHECK(map.find("later.test")->paused());
  Selection selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "other.test");
  Batch batch;
  map.take_batch(*selection.queue, 10, batch);
  map.complete_batch(batch, {}, clock.now());
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);

  // Resumed: served again; the setting is gone.
  CHECK(map.pause_domain("later.test", false, clock.now()));
  CHECK_FALSE(map.pause_domain("later.test", false, clock.now()));
  CHECK_FALSE(map.domain_paused("later.test"));
  CHECK(map.paused_domains().empty());
  selection = map.select(clock.now());
  REQUIRE(selection.kind == Selection::Kind::ready);
  CHECK(selection.queue->domain() == "later.test");
}

TEST_CASE("queues come and go with their nodes at scale", "[core][queue]") {
  FakeClock clock;
  QueueMap map;
  for (MessageIndex m = 0; m < 20'000; ++m) {
    map.file("d" + std::to_string(m % 3000) + ".test", m, 0, clock.now());
  }
  CHECK(map.queue_count() == 3000);
  CHECK(map.queued_recipients() == 20'000);
  Batch batch;
  std::uint64_t taken = 0;
  while (true) {
    Selection selection = map.select(clock.now());
    if (selection.kind != Selection::Kind::ready) break;
    map.take_batch(*selection.queue, 4, batch);
    taken += batch.recipients.size();
    map.complete_batch(batch, {}, clock.now());
  }
  CHECK(taken == 20'000);
  CHECK(map.queue_count() == 0);
}
