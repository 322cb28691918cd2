// NodeRing: one queue's data nodes, contiguous, first in first out, with room at both ends.
//
// A ring buffer grown by half again (2, 6, 10, 14, 22, 34, … slots: sizes that fill malloc's
// 16-byte chunks exactly) and shrunk again when a drained queue becomes sparse. Nodes of one
// domain sit side by side, so taking a batch reads memory in order instead of chasing links
// across the heap (measured: a pool-wide linked list spent ~80% of batch taking on cache misses),
// and a domain with one recipient waiting costs one 24-byte allocation. Retried nodes go back to
// the front. Owned by its DomainQueue.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "core/data_node.h"

namespace bulkq {

class NodeRing {
 public:
  NodeRing() = default;
  NodeRing(const NodeRing&) = delete;
  NodeRing& operator=(const NodeRing&) = delete;
  NodeRing(NodeRing&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  NodeRing& operator=(NodeRing&& other) noexcept {
    std::swap(slots_, other.slots_);
    std::swap(capacity_, other.capacity_);
    std::swap(head_, other.head_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~NodeRing() { std::free(slots_); }

  [[nodiscard]] std::uint32_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::uint32_t capacity() const { return capacity_; }

  // i-th node from the front.
  [[nodiscard]] const DataNode& operator[](std::uint32_t i) const {
    assert(i < size_);
    return slots_[wrap(head_ + i)];
  }
  [[nodiscard]] const DataNode& front() const { return (*this)[0]; }

  void push_back(const DataNode& node) {
    if (size_ == capacity_) grow(next_capacity(capacity_));
    slots_[wrap(head_ + size_)] = node;
    ++size_;
  }
  void push_front(const DataNode& node) {
    if (size_ == capacity_) grow(next_capacity(capacity_));
    head_ = head_ == 0 ? capacity_ - 1 : head_ - 1;
    slots_[head_] = node;
    ++size_;
  }
  // Starts loading the slot the next push_back writes.
  void prefetch_back() const {
    if (size_ < capacity_) __builtin_prefetch(&slots_[wrap(head_ + size_)], 1);
  }

  void pop_front() {
    assert(size_ > 0);
    head_ = wrap(head_ + 1);
    --size_;
  }

  // Gives memory back after a big queue has mostly drained: halves while a quarter or less of
  // the capacity is in use (the hysteresis keeps a queue that hovers from copying back and forth).
  void shrink_if_sparse() {
    if (size_ == 0) {
      std::free(std::exchange(slots_, nullptr));
      capacity_ = head_ = 0;
      return;
    }
    std::uint32_t target = capacity_;
    while (target > kInitialCapacity && size_ <= target / 4)
      target /= 2;
    if (target != capacity_) grow(target);
  }

  [[nodiscard]] std::size_t heap_bytes() const { return std::size_t{capacity_} * sizeof(DataNode); }

 private:
  static constexpr std::uint32_t kInitialCapacity = 2;

  // Slot counts of the form 4k + 2: 12 bytes × (4k + 2) + malloc's 8-byte header is a whole
  // number of 16-byte chunks, so no chunk carries dead bytes.
  static std::uint32_t next_capacity(std::uint32_t capacity) {
    if (capacity == 0) return kInitialCapacity;
    const std::uint64_t wanted = std::uint64_t{capacity} + capacity / 2;
    const std::uint64_t rounded = (wanted + 1) / 4 * 4 + 2;
    if (rounded > UINT32_MAX) throw std::bad_alloc();
    return static_cast<std::uint32_t>(rounded);
  }

  [[nodiscard]] std::uint32_t wrap(std::uint32_t index) const {
    return index >= capacity_ ? index - capacity_ : index;
  }

  // Moves the nodes into a buffer of `capacity` (≥ size_) slots. Growth goes through realloc:
  // glibc serves large blocks with mmap and grows them with mremap, so the copy and the freed
  // old buffer (a hole the heap could not return) both disappear for big queues; the part of the
  // ring that wrapped around is then moved into place.
  void grow(std::uint32_t capacity) {
    assert(capacity >= size_);
    const std::uint32_t old_capacity = capacity_;
    if (capacity > old_capacity && slots_ != nullptr) {
      auto* slots = static_cast<DataNode*>(
          std::realloc(static_cast<void*>(slots_), std::size_t{capacity} * sizeof(DataNode)));
      if (slots == nullptr) throw std::bad_alloc();
      slots_ = slots;
      capacity_ = capacity;
      const std::uint32_t tail = head_ + size_;  // one past the last node, unwrapped
      if (tail > old_capacity) {
        // Move whichever piece is shorter: the wrapped tail up behind the old end, or the head
        // piece up to the new end.
        const std::uint32_t wrapped = tail - old_capacity;
        const std::uint32_t head_piece = old_capacity - head_;
        if (wrapped <= head_piece && old_capacity + wrapped <= capacity) {
          std::memmove(static_cast<void*>(slots_ + old_capacity), slots_,
                       wrapped * sizeof(DataNode));
        } else {
          const std::uint32_t new_head = head_ + (capacity - old_capacity);
          std::memmove(static_cast<void*>(slots_ + new_head), slots_ + head_,
                       head_piece * sizeof(DataNode));
          head_ = new_head;
        }
      }
      return;
    }
    relocate(capacity);
  }

  // Copies the nodes, in order, into a fresh buffer (shrinking, or the first allocation).
  void relocate(std::uint32_t capacity) {
    auto* slots = static_cast<DataNode*>(std::malloc(std::size_t{capacity} * sizeof(DataNode)));
    if (slots == nullptr) throw std::bad_alloc();
    for (std::uint32_t i = 0; i < size_; ++i)
      slots[i] = (*this)[i];
    std::free(slots_);
    slots_ = slots;
    capacity_ = capacity;
    head_ = 0;
  }

  DataNode* slots_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
};

}  // namespace bulkq
