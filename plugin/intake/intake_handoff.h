// IntakeHandoff: the lock-free hand-over of new messages from producer threads (the milter's
// callbacks) to the scheduler thread.
//
// Bounded and allocation-free after construction (Boost.Lockfree, fixed-size node pool): a
// producer never waits and never blocks on anything the scheduler holds. When the handoff is
// full, try_push says so at once and leaves the message with the caller, which then fails open
// (lets the MTA deliver the message itself). Many producers, one consumer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/intake_message.h"

namespace bulkq {

enum class HandoffResult : std::uint8_t {
  accepted,  // the handoff owns the message now
  full,      // nothing was taken: the caller still owns the message and must fail open
};

class IntakeHandoff {
 public:
  // Boost.Lockfree's fixed-size queue indexes its nodes in 16 bits.
  static constexpr std::size_t kMaxCapacity = 65534;

  // `capacity` messages may wait; 1 ≤ capacity ≤ kMaxCapacity (std::invalid_argument otherwise).
  explicit IntakeHandoff(std::size_t capacity);
  ~IntakeHandoff();  // frees messages that were never drained
  IntakeHandoff(const IntakeHandoff&) = delete;
  IntakeHandoff& operator=(const IntakeHandoff&) = delete;

  // Any thread. On `accepted` `message` is left empty; on `full` it is untouched.
  [[nodiscard]] HandoffResult try_push(std::unique_ptr<IntakeMessage>& message);

  // Scheduler thread only: the oldest waiting message, or null when none waits.
  [[nodiscard]] std::unique_ptr<IntakeMessage> try_pop();

  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  // Messages pushed and not yet popped (approximate while producers run).
  [[nodiscard]] std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t accepted_total() const {
    return accepted_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t refused_total() const {
    return refused_.load(std::memory_order_relaxed);
  }

 private:
  struct Queue;  // keeps the Boost.Lockfree header out of every includer
  std::unique_ptr<Queue> queue_;
  std::size_t capacity_;
  std::atomic<std::size_t> depth_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace bulkq
