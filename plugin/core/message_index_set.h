// MessageIndexSet: a scratch set of message indices for one batch, cleared in O(batch size).
//
// Open addressing over a reused power-of-two table; clearing resets only the slots it filled, so
// a batch of one costs a few operations, not a table wipe. Owned by the QueueMap's thread.
#pragma once

#include <cstdint>
#include <vector>

#include "core/data_node.h"

namespace bulkq {

class MessageIndexSet {
 public:
  // Empties the set and makes room for `expected` insertions.
  void begin_batch(std::uint32_t expected) {
    for (std::uint32_t slot : used_)
      slots_[slot] = kEmpty;
    used_.clear();
    std::size_t size = 16;
    while (size < 2 * static_cast<std::size_t>(expected))
      size *= 2;
    if (slots_.size() < size) slots_.assign(size, kEmpty);
  }

  // Adds `message`; false if it was already there.
  bool insert(MessageIndex message) {
    const std::size_t mask = slots_.size() - 1;
    // Fibonacci hashing spreads consecutive indices over the table.
    std::size_t slot = (message * std::uint64_t{0x9E3779B97F4A7C15} >> 32) & mask;
    while (slots_[slot] != kEmpty) {
      if (slots_[slot] == message) return false;
      slot = (slot + 1) & mask;
    }
    slots_[slot] = message;
    used_.push_back(static_cast<std::uint32_t>(slot));
    return true;
  }

 private:
  static constexpr MessageIndex kEmpty = UINT32_MAX;  // never a real index (the table caps below)
  std::vector<MessageIndex> slots_;
  std::vector<std::uint32_t> used_;
};

}  // namespace bulkq
