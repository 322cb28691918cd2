// NodeRing: one queue's data nodes, contiguous, first in first out, with room at both ends.
//
// A ring buffer whose capacity is a power of two, grown by doubling and halved again when a
// drained queue becomes sparse. Nodes of one domain sit side by side, so taking a batch reads
// memory in order instead of chasing links across the heap (measured: a pool-wide linked list
// spent ~80% of batch taking on cache misses), and a domain with one recipient waiting costs one
// 24-byte allocation. Retried nodes go back to the front. Owned by its DomainQueue.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstdlib>
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
    return slots_[(head_ + i) & (capacity_ - 1)];
  }
  [[nodiscard]] const DataNode& front() const { return (*this)[0]; }

  void push_back(const DataNode& node) {
    if (size_ == capacity_) grow(capacity_ == 0 ? kInitialCapacity : capacity_ * 2);
    slots_[(head_ + size_) & (capacity_ - 1)] = node;
    ++size_;
  }
  void push_front(const DataNode& node) {
    if (size_ == capacity_) grow(capacity_ == 0 ? kInitialCapacity : capacity_ * 2);
    head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
    slots_[head_] = node;
    ++size_;
  }
  void pop_front() {
    assert(size_ > 0);
    head_ = (head_ + 1) & (capacity_ - 1);
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

  // Moves the nodes, in order, into a new buffer of `capacity` (≥ size_) slots.
  void grow(std::uint32_t capacity) {
    assert(capacity >= size_ && (capacity & (capacity - 1)) == 0);
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
