#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/queue_map.h"
#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

// Files `count` single-recipient nodes for `domain`.
void fill(QueueMap& map, const std::string& domain, std::uint32_t count, TimePoint now,
          MessageIndex& next_message) {
  for (std::uint32_t i = 0; i < count; ++i)
    map.file(domain, next_message++, 0, now);
}

// Serves the selected queue once: takes a batch and completes it as delivered.
std::string serve(QueueMap& map, TimePoint now, std::uint32_t batch_size = 100) {
  Selection selection = map.select(now);
  REQUIRE(selection.kind == Selection::Kind::ready);
  std::string domain(selection.queue->domain());
  Batch batch;
  map.take_batch(*selection.queue, batch_size, batch);
  map.complete_batch(batch, {}, now);
  return domain;
}

}  // namespace

TEST_CASE("selection policies parse and print", "[core][policy]") {
  CHECK(parse_selection_policy("fair") == SelectionPolicy::fair);
  CHECK(parse_selection_policy("largest") == SelectionPolicy::largest);
  CHECK(parse_selection_policy("oldest") == SelectionPolicy::oldest);
  CHECK_FALSE(parse_selection_policy("biggest").has_value());
  CHECK_FALSE(parse_selection_policy("").has_value());
  CHECK(to_string(SelectionPolicy::largest) == "largest");
}

TEST_CASE("largest serves the queue with the most recipients waiting", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::largest);
  MessageIndex m = 0;
  fill(map, "small.test", 3, clock.now(), m);
  clock.advance(1s);
  fill(map, "big.test", 50, clock.now(), m);
  fill(map, "medium.test", 20, clock.now(), m);

  CHECK(serve(map, clock.now(), 40) == "big.test");     // 50 → 10 left
  CHECK(serve(map, clock.now(), 40) == "medium.test");  // 20 → gone
  CHECK(serve(map, clock.now(), 40) == "big.test");     // 10 → gone
  CHECK(serve(map, clock.now(), 40) == "small.test");
  CHECK(map.select(clock.now()).kind == Selection::Kind::idle);
}

TEST_CASE("largest follows a queue that grows past the leader", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::largest);
  MessageIndex m = 0;
  fill(map, "a.test", 10, clock.now(), m);
  fill(map, "b.test", 5, clock.now(), m);
  fill(map, "b.test", 6, clock.now(), m);         // b now 11 > a 10
  CHECK(serve(map, clock.now(), 1) == "b.test");  // b 10, a 10: the older queue wins the tie
  CHECK(serve(map, clock.now(), 1) == "a.test");
}

TEST_CASE("oldest serves the queue that has existed longest", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::oldest);
  MessageIndex m = 0;
  fill(map, "first.test", 2, clock.now(), m);
  clock.advance(1s);
  fill(map, "second.test", 100, clock.now(), m);
  clock.advance(1s);
  fill(map, "third.test", 1, clock.now(), m);

  CHECK(serve(map, clock.now(), 1) == "first.test");
  CHECK(serve(map, clock.now(), 1) == "first.test");  // still the oldest while it exists
  CHECK(serve(map, clock.now(), 50) == "second.test");
  CHECK(serve(map, clock.now(), 50) == "second.test");
  CHECK(serve(map, clock.now(), 50) == "third.test");
  // A queue recreated later is young again.
  fill(map, "first.test", 1, clock.now(), m);
  clock.advance(1s);
  fill(map, "fourth.test", 1, clock.now(), m);
  CHECK(serve(map, clock.now()) == "first.test");
}

TEST_CASE("fair gives bigger queues more turns but never starves a small one", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::fair);
  MessageIndex m = 0;
  fill(map, "huge.test", 1'000'000, clock.now(), m);
  for (int round = 0; round < 5; ++round)
    serve(map, clock.now());

  // A one-message domain arrives beside a million waiting recipients.
  fill(map, "tiny.test", 1, clock.now(), m);
  int selections = 0;
  std::string served;
  do {
    served = serve(map, clock.now());
    ++selections;
  } while (served != "tiny.test" && selections < 1000);
  INFO("selections until tiny.test was served: " << selections);
  CHECK(served == "tiny.test");
  CHECK(selections <= 2);
}

TEST_CASE("fair alternates between queues of equal weight", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::fair);
  MessageIndex m = 0;
  fill(map, "big.test", 1 << 20, clock.now(), m);  // weight 21
  fill(map, "small.test", 1 << 20, clock.now(), m);
  std::map<std::string, int> turns;
  for (int i = 0; i < 2200; ++i) {
    Selection selection = map.select(clock.now());
    REQUIRE(selection.kind == Selection::Kind::ready);
    Batch batch;
    map.take_batch(*selection.queue, 1, batch);
    map.complete_batch(batch, {}, clock.now());
    ++turns[batch.domain];
  }
  // Equal sizes, equal weights: equal turns (within one).
  CHECK(std::abs(turns["big.test"] - turns["small.test"]) <= 1);
}

TEST_CASE("fair gives a queue turns in proportion to the bit width of its size", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::fair);
  MessageIndex m = 0;
  fill(map, "wide.test", 1 << 19, clock.now(), m);  // bit width 20
  fill(map, "narrow.test", 1, clock.now(), m);      // bit width 1, refilled after each service
  std::map<std::string, int> turns;
  for (int i = 0; i < 2100; ++i) {
    Selection selection = map.select(clock.now());
    REQUIRE(selection.kind == Selection::Kind::ready);
    Batch batch;
    map.take_batch(*selection.queue, 1, batch);
    map.complete_batch(batch, {}, clock.now());
    ++turns[batch.domain];
    if (batch.domain == "narrow.test") fill(map, "narrow.test", 1, clock.now(), m);
  }
  INFO("wide " << turns["wide.test"] << " narrow " << turns["narrow.test"]);
  CHECK(turns["wide.test"] == Approx(20.0 * turns["narrow.test"]).epsilon(0.05));
}

TEST_CASE("fair bounds every queue's wait by the number of queues", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::fair);
  std::mt19937 random(7);
  MessageIndex m = 0;
  const int queues = 200;
  for (int q = 0; q < queues; ++q) {
    // Sizes from 1 to ~100k, heavily skewed.
    const auto size =
        static_cast<std::uint32_t>(1 + (random() % 2 == 0 ? random() % 5 : random() % 100'000));
    fill(map, "q" + std::to_string(q) + ".test", size, clock.now(), m);
  }
  std::map<std::string, int> last_served;
  int worst_wait = 0;
  for (int i = 0; i < 20'000 && map.queue_count() > 0; ++i) {
    const std::string domain = serve(map, clock.now(), 10);
    const int since = i - (last_served.count(domain) ? last_served[domain] : -1);
    worst_wait = std::max(worst_wait, since);
    last_served[domain] = i;
  }
  INFO("worst wait in selections: " << worst_wait);
  // Weights are at most 17 here (bit width of 100 000), so no queue waits longer than about
  // queues × 17 selections; in practice far less.
  CHECK(worst_wait <= queues * 17);
  CHECK(last_served.size() == static_cast<std::size_t>(queues));  // everyone was served
}

TEST_CASE("largest starves a small queue while a big one lasts (why fair is the default)",
          "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::largest);
  MessageIndex m = 0;
  fill(map, "huge.test", 10'000, clock.now(), m);
  fill(map, "tiny.test", 1, clock.now(), m);
  for (int i = 0; i < 99; ++i)
    CHECK(serve(map, clock.now()) == "huge.test");
}

TEST_CASE("switching policy reorders the eligible queues", "[core][policy]") {
  FakeClock clock;
  QueueMap map(SelectionPolicy::oldest);
  MessageIndex m = 0;
  fill(map, "old-small.test", 1, clock.now(), m);
  clock.advance(1s);
  fill(map, "new-big.test", 10, clock.now(), m);
  CHECK(map.select(clock.now()).queue->domain() == "old-small.test");
  map.set_policy(SelectionPolicy::largest);
  CHECK(map.select(clock.now()).queue->domain() == "new-big.test");
  map.set_policy(SelectionPolicy::oldest);
  CHECK(map.select(clock.now()).queue->domain() == "old-small.test");
}
