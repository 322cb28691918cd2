// DomainQueue: the recipients waiting for one destination domain, in arrival order.
//
// Created by the QueueMap (allocated by its DomainTable) when the first node for its domain arrives
// and extinguished when it has no node waiting, none in flight and no hold (a paused, empty queue
// survives so the pause is not forgotten). Owned by the scheduler thread; everything outside
// QueueMap only reads it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/indexed_heap.h"
#include "core/node_ring.h"

namespace bulkq {

// Reasons a queue is held out of selection, as bits so several can apply at once.
enum class QueueHold : std::uint8_t {
  paused = 1U << 0,            // an administrator paused the domain
  connection_limit = 1U << 1,  // as many sessions to the domain are open as it may have
  destination_busy = 1U << 2,  // its destination (MX rollup) has all the sessions it may have
};

class DomainQueue {
 public:
  [[nodiscard]] std::string_view domain() const {
    return {reinterpret_cast<const char*>(this + 1), name_length_};
  }
  [[nodiscard]] std::uint32_t size() const { return nodes_.size(); }    // nodes waiting
  [[nodiscard]] std::uint32_t in_flight() const { return in_flight_; }  // nodes out in batches
  [[nodiscard]] TimePoint created() const { return created_; }
  [[nodiscard]] TimePoint next_attempt() const { return next_attempt_; }
  [[nodiscard]] bool held(QueueHold hold) const {
    return (holds_ & static_cast<std::uint8_t>(hold)) != 0;
  }
  [[nodiscard]] bool paused() const { return held(QueueHold::paused); }
  [[nodiscard]] std::uint64_t sequence() const { return sequence_; }
  // Unix seconds when the oldest waiting node was first queued; 0 for an empty queue.
  [[nodiscard]] std::uint32_t oldest_enqueued() const {
    return nodes_.empty() ? 0 : nodes_.front().enqueued;
  }
  [[nodiscard]] const NodeRing& nodes() const { return nodes_; }

 private:
  friend class QueueMap;
  friend class DomainTable;
  friend struct ReadyOrder;
  friend struct TimerOrder;
  friend struct ReadyPosition;
  friend struct TimerPosition;

  // Ordered to pack: 80 bytes. The domain's name follows the object in the same allocation
  // (see DomainTable), so a lookup that finds the queue has the key in the same cache lines.
  std::uint64_t hash_ = 0;
  TimePoint created_{};
  TimePoint next_attempt_{};
  std::uint64_t pass_ = 0;      // fair policy: virtual time of the next service
  std::uint64_t sequence_ = 0;  // creation order: "oldest", and every policy's tie-breaker
  NodeRing nodes_;              // 20 bytes
  std::uint32_t in_flight_ = 0;
  std::uint32_t ready_position_ = kNotInHeap;
  std::uint32_t timer_position_ = kNotInHeap;
  std::uint16_t name_length_ = 0;
  std::uint8_t holds_ = 0;
};

static_assert(sizeof(DomainQueue) <= 80, "a queue exists per domain: keep it small");

}  // namespace bulkq
