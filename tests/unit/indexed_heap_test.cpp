#include "core/indexed_heap.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

using namespace bulkq;

namespace {
struct Item {
  int key = 0;
  std::uint32_t position = kNotInHeap;
};
struct KeyOf {
  HeapKey operator()(const Item* item) const { return {static_cast<std::uint64_t>(item->key), 0}; }
};
struct Position {
  std::uint32_t& operator()(Item* item) const { return item->position; }
};
using Heap = IndexedHeap<Item*, KeyOf, Position>;
}  // namespace

TEST_CASE("the indexed heap stays ordered through pushes, updates and erasures", "[core][heap]") {
  std::mt19937 random(12345);
  std::vector<Item> items(2000);
  Heap heap;
  for (Item& item : items) {
    item.key = static_cast<int>(random() % 1000);
    heap.push(&item);
  }
  for (int round = 0; round < 5000; ++round) {
    Item& item = items[random() % items.size()];
    switch (random() % 3) {
      case 0:
        if (heap.contains(&item)) {
          item.key = static_cast<int>(random() % 1000);
          heap.update(&item);
        }
        break;
      case 1:
        if (heap.contains(&item)) heap.erase(&item);
        break;
      default:
        if (!heap.contains(&item)) heap.push(&item);
        break;
    }
  }
  // Draining yields keys in order, and exactly the items still contained.
  const auto contained = static_cast<std::size_t>(
      std::count_if(items.begin(), items.end(), [&](Item& i) { return heap.contains(&i); }));
  REQUIRE(heap.size() == contained);
  int last = -1;
  std::size_t drained = 0;
  while (!heap.empty()) {
    Item* top = heap.top();
    REQUIRE(top->key >= last);
    last = top->key;
    heap.erase(top);
    REQUIRE_FALSE(heap.contains(top));
    ++drained;
  }
  CHECK(drained == contained);
}
