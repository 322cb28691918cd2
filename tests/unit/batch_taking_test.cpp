#include <catch2/catch.hpp>
#include <vector>

#include "core/queue_map.h"
#include "fakes/fake_clock.h"

using namespace bulkq;
using bulkq::testing::FakeClock;

namespace {
Batch take(QueueMap& map, TimePoint now, std::uint32_t max) {
  Selection selection = map.select(now);
  REQUIRE(selection.kind == Selection::Kind::ready);
  Batch batch;
  map.take_batch(*selection.queue, max, batch);
  return batch;
}
}  // namespace

TEST_CASE("a batch groups recipients by message in queue order", "[core][batch]") {
  FakeClock clock;
  QueueMap map;
  // Interleaved arrivals: m7 r0, m3 r0, m7 r1, m9 r0, m3 r1, m7 r2
  map.file("x.test", 7, 0, clock.now());
  map.file("x.test", 3, 0, clock.now());
  map.file("x.test", 7, 1, clock.now());
  map.file("x.test", 9, 0, clock.now());
  map.file("x.test", 3, 1, clock.now());
  map.file("x.test", 7, 2, clock.now());

  const Batch batch = take(map, clock.now(), 100);
  CHECK(batch.domain == "x.test");
  REQUIRE(batch.message_count() == 3);
  // Groups in the order their first recipient was queued: 7, 3, 9.
  const auto g0 = batch.message_group(0);
  const auto g1 = batch.message_group(1);
  const auto g2 = batch.message_group(2);
  REQUIRE(g0.size() == 3);
  CHECK(g0[0].message == 7);
  CHECK(g0[0].recipient == 0);
  CHECK(g0[1].recipient == 1);
  CHECK(g0[2].recipient == 2);
  REQUIRE(g1.size() == 2);
  CHECK(g1[0].message == 3);
  CHECK(g1[1].recipient == 1);
  REQUIRE(g2.size() == 1);
  CHECK(g2[0].message == 9);
}

TEST_CASE("a batch takes at most N recipients from the head", "[core][batch]") {
  FakeClock clock;
  QueueMap map;
  for (MessageIndex m = 0; m < 10; ++m) {
    for (RecipientIndex r = 0; r < 3; ++r)
      map.file("y.test", m, r, clock.now());
  }
  const Batch first = take(map, clock.now(), 7);
  CHECK(first.recipients.size() == 7);
  CHECK(first.message_count() == 3);  // m0 ×3, m1 ×3, m2 ×1: a message may span batches
  CHECK(first.message_group(2).size() == 1);
  CHECK(map.find("y.test")->size() == 23);
  const Batch second = take(map, clock.now(), 7);
  CHECK(second.message_group(0)[0].message == 2);
  CHECK(second.message_group(0)[0].recipient == 1);
}
