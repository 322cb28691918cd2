// IndexedHeap: a binary heap of pointers whose elements know their own position.
//
// The queue map keeps its eligible queues in one of these so selection is O(1) and a queue whose
// priority changes (it grew, it was served) is re-sifted in O(log n) without a search. Each
// element stores its position in a member the PositionOf functor returns; boost::heap's mutable
// heaps would allocate a handle per queue instead. Not thread-safe: owned like its elements.
#pragma once

#include <cassert>
#include <cstdint>
#include <utility>
#include <vector>

namespace bulkq {

inline constexpr std::uint32_t kNotInHeap = UINT32_MAX;

// Before(a, b): a comes out first. PositionOf(item) -> std::uint32_t&.
template <typename Item, typename Before, typename PositionOf>
class IndexedHeap {
 public:
  explicit IndexedHeap(Before before = {}, PositionOf position_of = {})
      : before_(std::move(before)), position_of_(std::move(position_of)) {}

  [[nodiscard]] bool empty() const { return items_.empty(); }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] Item top() const {
    assert(!items_.empty());
    return items_.front();
  }
  [[nodiscard]] bool contains(Item item) const { return position_of_(item) != kNotInHeap; }

  void push(Item item) {
    assert(!contains(item));
    items_.push_back(item);
    position_of_(item) = static_cast<std::uint32_t>(items_.size() - 1);
    sift_up(items_.size() - 1);
  }

  void erase(Item item) {
    const std::size_t at = position_of_(item);
    assert(at < items_.size() && items_[at] == item);
    position_of_(item) = kNotInHeap;
    const Item last = items_.back();
    items_.pop_back();
    if (at == items_.size()) return;
    place(at, last);
    update_at(at);
  }

  // Restores heap order after `item`'s priority changed either way.
  void update(Item item) {
    assert(contains(item));
    update_at(position_of_(item));
  }

  // Re-orders everything after the ordering itself changed.
  void set_order(Before before) {
    before_ = std::move(before);
    for (std::size_t i = items_.size() / 2; i-- > 0;)
      sift_down(i);
  }

  void clear() {
    for (Item item : items_)
      position_of_(item) = kNotInHeap;
    items_.clear();
  }

 private:
  void place(std::size_t at, Item item) {
    items_[at] = item;
    position_of_(item) = static_cast<std::uint32_t>(at);
  }

  void update_at(std::size_t at) {
    if (at > 0 && before_(items_[at], items_[(at - 1) / 2])) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }

  void sift_up(std::size_t at) {
    const Item item = items_[at];
    while (at > 0) {
      const std::size_t parent = (at - 1) / 2;
      if (!before_(item, items_[parent])) break;
      place(at, items_[parent]);
      at = parent;
    }
    place(at, item);
  }

  void sift_down(std::size_t at) {
    const Item item = items_[at];
    const std::size_t n = items_.size();
    while (true) {
      std::size_t child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && before_(items_[child + 1], items_[child])) ++child;
      if (!before_(items_[child], item)) break;
      place(at, items_[child]);
      at = child;
    }
    place(at, item);
  }

  std::vector<Item> items_;
  Before before_;
  PositionOf position_of_;
};

}  // namespace bulkq
