// IndexedHeap: a 4-ary min-heap of pointers that know their own position, with each entry's
// sort key stored beside it.
//
// The queue map keeps its eligible queues in one of these so selection is O(1) and a queue whose
// priority changes (it grew, it was served) is re-sifted in O(log n) without a search. Keys live
// in the heap's own array, so sifting compares without touching the (cold) elements; only the
// moved elements' position fields are written. boost::heap's mutable heaps would allocate a
// handle per element instead. Four children per node halve the depth of a binary heap, and so
// the position writes into cold elements on every sift; siblings sit in adjacent cache lines.
// Not thread-safe: owned like its elements.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <utility>
#include <vector>

namespace bulkq {

inline constexpr std::uint32_t kNotInHeap = UINT32_MAX;

// Two words compared in order: what to serve first, then a tie-breaker that makes order total.
struct HeapKey {
  std::uint64_t primary = 0;
  std::uint64_t secondary = 0;
  friend bool operator<(const HeapKey& a, const HeapKey& b) {
    return a.primary != b.primary ? a.primary < b.primary : a.secondary < b.secondary;
  }
};

// KeyOf(item) -> HeapKey (smallest first). PositionOf(item) -> std::uint32_t&.
template <typename Item, typename KeyOf, typename PositionOf>
class IndexedHeap {
 public:
  explicit IndexedHeap(KeyOf key_of = {}, PositionOf position_of = {})
      : key_of_(std::move(key_of)), position_of_(std::move(position_of)) {}

  [[nodiscard]] bool empty() const { return entries_.empty(); }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] Item top() const {
    assert(!entries_.empty());
    return entries_.front().item;
  }
  [[nodiscard]] const HeapKey& top_key() const {
    assert(!entries_.empty());
    return entries_.front().key;
  }
  [[nodiscard]] bool contains(Item item) const { return position_of_(item) != kNotInHeap; }

  void push(Item item) {
    assert(!contains(item));
    entries_.push_back({key_of_(item), item});
    position_of_(item) = static_cast<std::uint32_t>(entries_.size() - 1);
    sift_up(entries_.size() - 1);
  }

  void erase(Item item) {
    const std::size_t at = position_of_(item);
    assert(at < entries_.size() && entries_[at].item == item);
    position_of_(item) = kNotInHeap;
    const Entry last = entries_.back();
    entries_.pop_back();
    if (at == entries_.size()) return;
    place(at, last);
    resift(at);
  }

  // Restores heap order after `item`'s key changed either way.
  void update(Item item) {
    assert(contains(item));
    const std::size_t at = position_of_(item);
    entries_[at].key = key_of_(item);
    resift(at);
  }

  // Recomputes every key after the ordering itself changed.
  void set_key_of(KeyOf key_of) {
    key_of_ = std::move(key_of);
    for (Entry& entry : entries_)
      entry.key = key_of_(entry.item);
    for (std::size_t i = entries_.size() / 2; i-- > 0;)
      sift_down(i);
  }

  // Calls visit(item) for the `count` smallest entries in key order, without changing the heap:
  // a best-first walk over the tree (O(count · log count) with a small frontier).
  template <typename Visit>
  void visit_smallest(std::size_t count, Visit&& visit) const {
    if (entries_.empty() || count == 0) return;
    std::vector<std::size_t> frontier{0};
    const auto later = [this](std::size_t a, std::size_t b) {
      return entries_[b].key < entries_[a].key;
    };
    while (count > 0 && !frontier.empty()) {
      std::pop_heap(frontier.begin(), frontier.end(), later);
      const std::size_t at = frontier.back();
      frontier.pop_back();
      visit(entries_[at].item);
      --count;
      const std::size_t first = kArity * at + 1;
      for (std::size_t child = first; child < first + kArity && child < entries_.size(); ++child) {
        frontier.push_back(child);
        std::push_heap(frontier.begin(), frontier.end(), later);
      }
    }
  }

  void clear() {
    for (const Entry& entry : entries_)
      position_of_(entry.item) = kNotInHeap;
    entries_.clear();
  }

 private:
  struct Entry {
    HeapKey key;
    Item item;
  };

  void place(std::size_t at, const Entry& entry) {
    entries_[at] = entry;
    position_of_(entry.item) = static_cast<std::uint32_t>(at);
  }

  static constexpr std::size_t kArity = 4;
  static std::size_t parent_of(std::size_t at) { return (at - 1) / kArity; }

  void resift(std::size_t at) {
    if (at > 0 && entries_[at].key < entries_[parent_of(at)].key) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }

  void sift_up(std::size_t at) {
    const Entry entry = entries_[at];
    while (at > 0) {
      const std::size_t parent = parent_of(at);
      if (!(entry.key < entries_[parent].key)) break;
      place(at, entries_[parent]);
      at = parent;
    }
    place(at, entry);
  }

  void sift_down(std::size_t at) {
    const Entry entry = entries_[at];
    const std::size_t n = entries_.size();
    while (true) {
      const std::size_t first = kArity * at + 1;
      if (first >= n) break;
      std::size_t child = first;
      const std::size_t end = std::min(first + kArity, n);
      for (std::size_t c = first + 1; c < end; ++c) {
        if (entries_[c].key < entries_[child].key) child = c;
      }
      if (!(entries_[child].key < entry.key)) break;
      place(at, entries_[child]);
      at = child;
    }
    place(at, entry);
  }

  std::vector<Entry> entries_;
  KeyOf key_of_;
  PositionOf position_of_;
};

}  // namespace bulkq
