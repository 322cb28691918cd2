// QueueMap: every destination domain's queue, and the choice of which one to serve next.
//
// Owned by the scheduler thread; nothing here locks or does I/O, and time comes in as arguments.
// Queues live in a DomainTable keyed by canonical domain (see normalise_domain) and are created
// and extinguished on demand. Eligible queues (nodes waiting, no hold, not backing off) sit in one
// indexed heap ordered by the selection policy; queues backing off sit in a second heap ordered
// by their next allowed attempt, so selection never scans the map.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "core/clock.h"
#include "core/domain_queue.h"
#include "core/domain_table.h"
#include "core/indexed_heap.h"
#include "core/message_index_set.h"
#include "core/recipient_routing.h"
#include "core/selection_policy.h"

namespace bulkq {

// What the scheduler should do next. Like a timed pop: a queue to serve, a time to sleep until
// (only backing-off queues have work), or nothing at all.
struct [[nodiscard]] Selection {
  enum class Kind : std::uint8_t { ready, sleep_until, idle };
  Kind kind = Kind::idle;
  DomainQueue* queue = nullptr;  // kind == ready
  TimePoint wake_at{};           // kind == sleep_until
};

// Sort keys: the policy's criterion, then creation order (which is what "oldest" means).
struct ReadyOrder {
  SelectionPolicy policy = SelectionPolicy::fair;
  HeapKey operator()(const DomainQueue* q) const;
};
struct TimerOrder {
  HeapKey operator()(const DomainQueue* q) const;
};
struct ReadyPosition {
  std::uint32_t& operator()(DomainQueue* q) const { return q->ready_position_; }
};
struct TimerPosition {
  std::uint32_t& operator()(DomainQueue* q) const { return q->timer_position_; }
};

class QueueMap {
 public:
  explicit QueueMap(SelectionPolicy policy = SelectionPolicy::fair);
  QueueMap(const QueueMap&) = delete;
  QueueMap& operator=(const QueueMap&) = delete;

  // Files one recipient at the tail of `domain`'s queue, creating the queue if there is none.
  // `domain` must be canonical.
  void file(std::string_view domain, MessageIndex message, RecipientIndex recipient, TimePoint now);
  // Files every recipient of new messages, one table lookup per distinct domain per message.
  // Filing several messages at once lets their cache misses overlap (see file_messages).
  struct NewMessage {
    MessageIndex message;
    const RecipientRouting* routing;
  };
  void file_messages(std::span<const NewMessage> messages, TimePoint now);
  void file_message(MessageIndex message, const RecipientRouting& routing, TimePoint now) {
    const NewMessage one{message, &routing};
    file_messages({&one, 1}, now);
  }

  // Files only the recipients whose bit in `finished` (bit r of word r/64) is clear: a message
  // rebuilt by recovery. A domain whose recipients are all finished gets no queue.
  void file_unfinished(MessageIndex message, const RecipientRouting& routing,
                       std::span<const std::uint64_t> finished, TimePoint now);

  // Releases queues whose backoff has ended, then names the queue the policy serves next.
  Selection select(TimePoint now);
  // Starts loading the queue that is next in line, so the next selection does not wait for it.
  void prefetch_next() const {
    if (!ready_.empty()) __builtin_prefetch(ready_.top());
  }

  // Moves up to `max_recipients` nodes from the head of `queue` into `out`, grouped by message
  // (groups in the order their first recipient was queued). The nodes are in flight until
  // complete_batch. Serving a queue advances its fair-policy virtual time.
  void take_batch(DomainQueue& queue, std::uint32_t max_recipients, Batch& out);

  // Ends a batch: the `retry` recipients go back to the head of their queue, in order, with one
  // more attempt counted; the others have left for good. A queue left with nothing waiting,
  // nothing in flight and no hold is extinguished here.
  // `untouched` recipients (never offered to the destination) go back to the head too, without
  // an attempt counted.
  void complete_batch(const Batch& batch, std::span<const BatchRecipient> retry, TimePoint now,
                      std::span<const BatchRecipient> untouched = {});
  // When the first backing-off queue may be served again; TimePoint::max() if none backs off.
  [[nodiscard]] TimePoint earliest_backoff_end() const {
    return timers_.empty() ? TimePoint::max() : timers_.top()->next_attempt_;
  }

  // Files recipients that come back after a per-recipient retry delay (their batch reported them
  // deferred) at the tail of `domain`'s queue, creating it if needed, with one more attempt
  // counted and their first-queued time kept.
  void refile(std::string_view domain, std::span<const BatchRecipient> recipients, TimePoint now);
  // Keeps `domain` out of selection until `until` (backoff). False if there is no such queue.
  bool defer(std::string_view domain, TimePoint until, TimePoint now);
  // Pauses or resumes `domain`. False if there is no such queue.
  bool set_paused(std::string_view domain, bool paused, TimePoint now) {
    return set_hold(domain, QueueHold::paused, paused, now);
  }
  // An administrator's pause (bulkqctl pause/resume), whether or not `domain` has a queue now: a
  // queue created while its domain is paused starts paused. Lasts until resumed (or a restart).
  // True if the setting changed.
  bool pause_domain(std::string_view domain, bool paused, TimePoint now);
  [[nodiscard]] bool domain_paused(std::string_view domain) const {
    return paused_domains_.find(domain) != paused_domains_.end();
  }
  [[nodiscard]] const std::set<std::string, std::less<>>& paused_domains() const {
    return paused_domains_;
  }
  // Sets or clears one hold on `domain`; a queue left idle without holds is extinguished. False
  // if there is no such queue.
  bool set_hold(std::string_view domain, QueueHold hold, bool on, TimePoint now);
  // Appends up to `count` eligible queues in the order the policy would serve them now (the
  // first is select()'s), for DNS prefetch. Does not change anything.
  void next_in_order(std::size_t count, std::vector<const DomainQueue*>& out) const {
    ready_.visit_smallest(count, [&out](const DomainQueue* q) { out.push_back(q); });
  }

  // bulkqctl release: removes every waiting node of `messages` from whichever queues hold them
  // (one pass over all queues, so callers withdraw many messages per call); a queue left with
  // nothing waiting, nothing in flight and no hold is extinguished. Nodes in flight are not
  // touched: the caller never withdraws a message a batch is carrying. Returns the nodes removed.
  std::uint64_t withdraw(std::span<const MessageIndex> messages);

  void set_policy(SelectionPolicy policy);
  [[nodiscard]] SelectionPolicy policy() const { return policy_; }

  [[nodiscard]] const DomainQueue* find(std::string_view domain) const;
  [[nodiscard]] std::size_t queue_count() const { return table_.size(); }
  [[nodiscard]] std::uint64_t queued_recipients() const { return queued_; }
  [[nodiscard]] std::uint64_t in_flight_recipients() const { return in_flight_; }
  [[nodiscard]] std::size_t eligible_queue_count() const { return ready_.size(); }

  template <typename Visit>
  void for_each_queue(Visit&& visit) const {
    table_.for_each([&](const DomainQueue& queue) { visit(queue); });
  }

 private:
  DomainQueue& queue_for(std::string_view domain, std::uint64_t hash, TimePoint now);
  void append(DomainQueue& queue, MessageIndex message, RecipientIndex recipient,
              std::uint32_t enqueued);
  void place(DomainQueue& queue, TimePoint now);
  void resift_after_growth(DomainQueue& queue, TimePoint now);
  void extinguish_if_idle(DomainQueue& queue);
  void regroup(Batch& out);
  DomainQueue* find_mutable(std::string_view domain);

  SelectionPolicy policy_;
  DomainTable table_;
  IndexedHeap<DomainQueue*, ReadyOrder, ReadyPosition> ready_;
  IndexedHeap<DomainQueue*, TimerOrder, TimerPosition> timers_;
  std::uint64_t virtual_time_ = 0;  // fair policy: the furthest pass any service reached
  std::uint64_t next_sequence_ = 0;
  std::uint64_t queued_ = 0;
  std::uint64_t in_flight_ = 0;
  // Scratch space for take_batch and file_message, kept to avoid allocating per call.
  std::vector<std::uint32_t> order_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> runs_;
  std::vector<BatchRecipient> regrouped_;
  MessageIndexSet seen_;
  std::vector<DomainQueue*> touched_;
  struct PendingDomain {
    const NewMessage* message;
    std::uint32_t domain;
  };
  std::vector<PendingDomain> pending_;
  std::set<std::string, std::less<>> paused_domains_;
};

}  // namespace bulkq
