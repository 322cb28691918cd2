#include "core/node_ring.h"

#include <catch2/catch.hpp>
#include <deque>
#include <random>

using namespace bulkq;

namespace {
DataNode node(std::uint32_t message) {
  DataNode n;
  n.message = message;
  n.recipient = message % 1000;
  return n;
}
}  // namespace

TEST_CASE("the node ring is a FIFO with room at the front", "[core][ring]") {
  NodeRing ring;
  CHECK(ring.empty());
  for (std::uint32_t i = 0; i < 5; ++i)
    ring.push_back(node(i));
  ring.push_front(node(100));
  REQUIRE(ring.size() == 6);
  CHECK(ring.front().message == 100);
  ring.pop_front();
  for (std::uint32_t i = 0; i < 5; ++i) {
    CHECK(ring.front().message == i);
    ring.pop_front();
  }
  CHECK(ring.empty());
}

TEST_CASE("the node ring matches a deque through random use, and gives memory back",
          "[core][ring]") {
  std::mt19937 random(99);
  NodeRing ring;
  std::deque<std::uint32_t> model;
  std::uint32_t next = 0;
  for (int step = 0; step < 200'000; ++step) {
    const auto op = random() % 10;
    if (op < 5) {
      ring.push_back(node(next));
      model.push_back(next++);
    } else if (op < 6) {
      ring.push_front(node(next));
      model.push_front(next++);
    } else if (!model.empty()) {
      REQUIRE(ring.front().message == model.front());
      ring.pop_front();
      model.pop_front();
      if (op == 9) ring.shrink_if_sparse();
    }
    REQUIRE(ring.size() == model.size());
  }
  for (std::uint32_t i = 0; i < model.size(); ++i)
    REQUIRE(ring[i].message == model[i]);

  for (std::uint32_t i = 0; i < 100'000; ++i)
    ring.push_back(node(i));
  const std::uint32_t peak = ring.capacity();
  while (ring.size() > 10)
    ring.pop_front();
  ring.shrink_if_sparse();
  CHECK(ring.capacity() < peak / 1000);
  CHECK(ring.capacity() >= ring.size());
  while (!ring.empty())
    ring.pop_front();
  ring.shrink_if_sparse();
  CHECK(ring.capacity() == 0);
  CHECK(ring.heap_bytes() == 0);
}
