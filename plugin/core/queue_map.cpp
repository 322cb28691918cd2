#include "core/queue_map.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace bulkq {
namespace {

// Fair policy: one service costs kStrideUnit / weight of virtual time.
constexpr std::uint64_t kStrideUnit = std::uint64_t{1} << 20;

std::uint64_t fair_stride(std::uint32_t size) {
  const auto weight = static_cast<std::uint64_t>(std::bit_width(std::max<std::uint32_t>(size, 1)));
  return kStrideUnit / weight;
}

}  // namespace

HeapKey ReadyOrder::operator()(const DomainQueue* q) const {
  switch (policy) {
    case SelectionPolicy::largest:
      return {UINT32_MAX - q->nodes_.size(), q->sequence_};
    case SelectionPolicy::oldest:
      return {q->sequence_, 0};
    case SelectionPolicy::fair:
      return {q->pass_, q->sequence_};
  }
  return {q->sequence_, 0};
}

HeapKey TimerOrder::operator()(const DomainQueue* q) const {
  return {static_cast<std::uint64_t>(q->next_attempt_.time_since_epoch().count()), q->sequence_};
}

QueueMap::QueueMap(SelectionPolicy policy) : policy_(policy), ready_(ReadyOrder{policy}) {}

void QueueMap::set_policy(SelectionPolicy policy) {
  if (policy == policy_) return;
  policy_ = policy;
  if (policy == SelectionPolicy::fair) {
    // Start everyone level so no queue inherits a debt from before the switch.
    table_.for_each([this](DomainQueue& queue) { queue.pass_ = virtual_time_; });
  }
  ready_.set_key_of(ReadyOrder{policy});
}

const DomainQueue* QueueMap::find(std::string_view domain) const {
  return table_.find(domain, domain_hash(domain));
}

DomainQueue* QueueMap::find_mutable(std::string_view domain) {
  return table_.find(domain, domain_hash(domain));
}

DomainQueue& QueueMap::queue_for(std::string_view domain, std::uint64_t hash, TimePoint now) {
  if (DomainQueue* found = table_.find(domain, hash)) return *found;
  DomainQueue& queue = table_.insert(domain, hash);
  queue.created_ = now;
  if (!paused_domains_.empty() && domain_paused(domain)) {
    queue.holds_ |= static_cast<std::uint8_t>(QueueHold::paused);
  }
  queue.sequence_ = next_sequence_++;
  queue.pass_ = virtual_time_;
  return queue;
}

void QueueMap::append(DomainQueue& queue, MessageIndex message, RecipientIndex recipient,
                      std::uint32_t enqueued) {
  DataNode node;
  node.message = message;
  node.recipient = recipient;
  node.enqueued = enqueued;
  queue.nodes_.push_back(node);
  ++queued_;
}

void QueueMap::place(DomainQueue& queue, TimePoint now) {
  const bool runnable = queue.nodes_.size() > 0 && queue.holds_ == 0;
  const bool want_ready = runnable && queue.next_attempt_ <= now;
  const bool want_timer = runnable && queue.next_attempt_ > now;
  if (ready_.contains(&queue) && !want_ready) ready_.erase(&queue);
  if (timers_.contains(&queue) && !want_timer) timers_.erase(&queue);
  if (want_ready && !ready_.contains(&queue)) {
    // A queue coming back (new nodes, end of backoff or pause) rejoins at the current virtual
    // time: no credit saved while idle lets it jump ahead of queues that kept waiting.
    queue.pass_ = std::max(queue.pass_, virtual_time_);
    ready_.push(&queue);
  }
  if (want_timer) {
    if (timers_.contains(&queue)) {
      timers_.update(&queue);
    } else {
      timers_.push(&queue);
    }
  }
}

void QueueMap::resift_after_growth(DomainQueue& queue, TimePoint now) {
  if (ready_.contains(&queue)) {
    if (policy_ == SelectionPolicy::largest) ready_.update(&queue);
  } else if (!timers_.contains(&queue)) {
    place(queue, now);
  }
}

void QueueMap::file(std::string_view domain, MessageIndex message, RecipientIndex recipient,
                    TimePoint now) {
  DomainQueue& queue = queue_for(domain, domain_hash(domain), now);
  append(queue, message, recipient, unix_seconds32(now));
  resift_after_growth(queue, now);
}

void QueueMap::file_unfinished(MessageIndex message, const RecipientRouting& routing,
                               std::span<const std::uint64_t> finished, TimePoint now) {
  for (RecipientIndex r = 0; r < routing.recipient_count(); ++r) {
    const bool done = r / 64 < finished.size() && (finished[r / 64] >> (r % 64) & 1U) != 0;
    if (!done) file(routing.domain(routing.domain_of(r)), message, r, now);
  }
}

void QueueMap::file_messages(std::span<const NewMessage> messages, TimePoint now) {
  // Every (message, domain) pair costs about one cache miss per step: the table slot, the queue
  // it points at, the queue's tail slot. A software pipeline keeps several in flight: the slot
  // of pair i + 2·kAhead and the queue of pair i + kAhead are being loaded while pair i is
  // resolved. kAhead stays under a core's ~10 line-fill buffers; prefetching everything at once
  // overflows them and most prefetches are dropped.
  constexpr std::size_t kAhead = 6;
  pending_.clear();
  for (const NewMessage& m : messages) {
    for (std::uint32_t d = 0; d < m.routing->domain_count(); ++d)
      pending_.push_back({&m, d});
  }
  const std::size_t n = pending_.size();
  touched_.resize(n);
  auto hash_of = [this](std::size_t i) {
    return pending_[i].message->routing->domain_hash_of(pending_[i].domain);
  };
  for (std::size_t i = 0; i < std::min(n, 2 * kAhead); ++i)
    table_.prefetch(hash_of(i));
  for (std::size_t i = 0; i < std::min(n, kAhead); ++i)
    table_.prefetch_home_queue(hash_of(i));
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 2 * kAhead < n) table_.prefetch(hash_of(i + 2 * kAhead));
    if (i + kAhead < n) table_.prefetch_home_queue(hash_of(i + kAhead));
    const RecipientRouting& routing = *pending_[i].message->routing;
    DomainQueue& queue = queue_for(routing.domain(pending_[i].domain),
                                   routing.domain_hash_of(pending_[i].domain), now);
    queue.nodes_.prefetch_back();
    touched_[i] = &queue;
  }
  const std::uint32_t enqueued = unix_seconds32(now);
  std::size_t first = 0;  // where this message's queues start in touched_
  for (const NewMessage& m : messages) {
    const RecipientRouting& routing = *m.routing;
    for (RecipientIndex r = 0; r < routing.recipient_count(); ++r) {
      append(*touched_[first + routing.domain_of(r)], m.message, r, enqueued);
    }
    first += routing.domain_count();
  }
  for (DomainQueue* queue : touched_)
    resift_after_growth(*queue, now);
}

Selection QueueMap::select(TimePoint now) {
  while (!timers_.empty() && timers_.top()->next_attempt_ <= now)
    place(*timers_.top(), now);
  if (!ready_.empty()) return {Selection::Kind::ready, ready_.top(), {}};
  if (!timers_.empty())
    return {Selection::Kind::sleep_until, nullptr, timers_.top()->next_attempt_};
  return {};
}

void QueueMap::take_batch(DomainQueue& queue, std::uint32_t max_recipients, Batch& out) {
  out.clear();
  out.domain = queue.domain();
  out.queue = &queue;
  if (queue.nodes_.size() == 0 || max_recipients == 0) return;

  if (policy_ == SelectionPolicy::fair) {
    queue.pass_ += fair_stride(queue.nodes_.size());
    // Virtual time is the furthest any service has reached, so a queue that empties and comes
    // straight back (a trickle of single messages) rejoins behind the others rather than at the
    // start of the turn it just had.
    virtual_time_ = std::max(virtual_time_, queue.pass_);
  }

  const std::uint32_t n = std::min(queue.nodes_.size(), max_recipients);
  queue.in_flight_ += n;
  queued_ -= n;
  in_flight_ += n;

  // Copy the batch out in queue order, one group per run of the same message. A message's
  // recipients for one domain are filed together, so runs are usually whole messages already;
  // when a message shows up in two runs (interleaved filing, retries), regroup.
  const NodeRing& nodes = queue.nodes_;
  out.recipients.reserve(n);
  out.group_starts.reserve(n);
  bool interleaved = false;
  seen_.begin_batch(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const DataNode& node = nodes[i];
    if (i == 0 || node.message != nodes[i - 1].message) {
      out.group_starts.push_back(i);
      if (!seen_.insert(node.message)) interleaved = true;
    }
    out.recipients.push_back(
        {node.message, node.recipient, static_cast<std::uint8_t>(node.attempts), node.enqueued});
  }
  if (interleaved) regroup(out);
  for (std::uint32_t i = 0; i < n; ++i)
    queue.nodes_.pop_front();
  queue.nodes_.shrink_if_sparse();

  if (ready_.contains(&queue)) {
    if (queue.nodes_.size() == 0) {
      ready_.erase(&queue);
    } else if (policy_ != SelectionPolicy::oldest) {
      ready_.update(&queue);
    }
  } else if (queue.nodes_.size() == 0 && timers_.contains(&queue)) {
    timers_.erase(&queue);
  }
}

void QueueMap::regroup(Batch& out) {
  // A stable sort by message makes each message one run in queue order; runs are then put in
  // the order their first recipient stood.
  const auto n = static_cast<std::uint32_t>(out.recipients.size());
  order_.resize(n);
  for (std::uint32_t i = 0; i < n; ++i)
    order_[i] = i;
  std::stable_sort(order_.begin(), order_.end(), [&out](std::uint32_t a, std::uint32_t b) {
    return out.recipients[a].message < out.recipients[b].message;
  });
  runs_.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    if (i == 0 || out.recipients[order_[i]].message != out.recipients[order_[i - 1]].message) {
      runs_.emplace_back(order_[i], i);
    }
  }
  std::sort(runs_.begin(), runs_.end());
  regrouped_.clear();
  out.group_starts.clear();
  for (const auto& run : runs_) {
    out.group_starts.push_back(static_cast<std::uint32_t>(regrouped_.size()));
    const MessageIndex message = out.recipients[order_[run.second]].message;
    for (std::uint32_t i = run.second; i < n && out.recipients[order_[i]].message == message; ++i) {
      regrouped_.push_back(out.recipients[order_[i]]);
    }
  }
  out.recipients.swap(regrouped_);
}

void QueueMap::complete_batch(const Batch& batch, std::span<const BatchRecipient> retry,
                              TimePoint now, std::span<const BatchRecipient> untouched) {
  if (batch.recipients.empty()) return;
  // Nodes in flight keep their queue alive, so the batch's handle is still good.
  DomainQueue* queue = batch.queue;
  assert(queue != nullptr && table_.find(batch.domain, queue->hash_) == queue);
  const auto n = static_cast<std::uint32_t>(batch.recipients.size());
  assert(queue->in_flight_ >= n && retry.size() + untouched.size() <= n);
  queue->in_flight_ -= n;
  in_flight_ -= n;
  const auto push_front = [queue](std::span<const BatchRecipient> recipients, unsigned more) {
    for (auto it = recipients.rbegin(); it != recipients.rend(); ++it) {
      DataNode node;
      node.message = it->message;
      node.recipient = it->recipient;
      node.attempts = it->attempts >= UINT8_MAX - more ? UINT8_MAX : it->attempts + more;
      node.enqueued = it->enqueued;
      queue->nodes_.push_front(node);
    }
  };
  push_front(untouched, 0);
  push_front(retry, 1);
  queued_ += retry.size() + untouched.size();
  if (!retry.empty() || !untouched.empty()) resift_after_growth(*queue, now);
  extinguish_if_idle(*queue);
}

bool QueueMap::defer(std::string_view domain, TimePoint until, TimePoint now) {
  DomainQueue* queue = find_mutable(domain);
  if (queue == nullptr) return false;
  queue->next_attempt_ = until;
  place(*queue, now);
  return true;
}

void QueueMap::refile(std::string_view domain, std::span<const BatchRecipient> recipients,
                      TimePoint now) {
  if (recipients.empty()) return;
  DomainQueue& queue = queue_for(domain, domain_hash(domain), now);
  for (const BatchRecipient& r : recipients) {
    DataNode node;
    node.message = r.message;
    node.recipient = r.recipient;
    node.attempts = r.attempts == UINT8_MAX ? UINT8_MAX : r.attempts + 1U;
    node.enqueued = r.enqueued;
    queue.nodes_.push_back(node);
  }
  queued_ += recipients.size();
  resift_after_growth(queue, now);
}

bool QueueMap::set_hold(std::string_view domain, QueueHold hold, bool on, TimePoint now) {
  DomainQueue* queue = find_mutable(domain);
  if (queue == nullptr) return false;
  const auto bit = static_cast<std::uint8_t>(hold);
  queue->holds_ = on ? (queue->holds_ | bit) : (queue->holds_ & ~bit);
  place(*queue, now);
  extinguish_if_idle(*queue);
  return true;
}

bool QueueMap::pause_domain(std::string_view domain, bool paused, TimePoint now) {
  const auto it = paused_domains_.find(domain);
  const bool was = it != paused_domains_.end();
  if (paused == was) return false;
  if (paused) {
    paused_domains_.emplace(domain);
  } else {
    paused_domains_.erase(it);
  }
  (void)set_hold(domain, QueueHold::paused, paused, now);
  return true;
}

std::uint64_t QueueMap::withdraw(std::span<const MessageIndex> messages) {
  if (messages.empty()) return 0;
  const MessageIndex highest = *std::max_element(messages.begin(), messages.end());
  std::vector<bool> chosen(std::size_t{highest} + 1, false);
  for (const MessageIndex m : messages)
    chosen[m] = true;
  const auto withdrawn = [&chosen](const DataNode& node) {
    return node.message < chosen.size() && chosen[node.message];
  };
  std::uint64_t removed = 0;
  std::vector<DomainQueue*> changed;
  table_.for_each([&](DomainQueue& queue) {
    NodeRing& nodes = queue.nodes_;
    bool any = false;
    for (std::uint32_t i = 0; i < nodes.size() && !any; ++i)
      any = withdrawn(nodes[i]);
    if (!any) return;
    // Rotate once through the ring, keeping the others in their order.
    const std::uint32_t n = nodes.size();
    for (std::uint32_t i = 0; i < n; ++i) {
      const DataNode node = nodes.front();
      nodes.pop_front();
      if (withdrawn(node)) {
        ++removed;
      } else {
        nodes.push_back(node);
      }
    }
    nodes.shrink_if_sparse();
    changed.push_back(&queue);
  });
  queued_ -= removed;
  // Heaps and the table change only after the walk over the table.
  for (DomainQueue* queue : changed) {
    if (ready_.contains(queue)) {
      if (queue->nodes_.size() == 0) {
        ready_.erase(queue);
      } else {
        ready_.update(queue);
      }
    } else if (timers_.contains(queue) && queue->nodes_.size() == 0) {
      timers_.erase(queue);
    }
    extinguish_if_idle(*queue);
  }
  return removed;
}

void QueueMap::extinguish_if_idle(DomainQueue& queue) {
  if (queue.nodes_.size() != 0 || queue.in_flight_ != 0 || queue.holds_ != 0) return;
  if (ready_.contains(&queue)) ready_.erase(&queue);
  if (timers_.contains(&queue)) timers_.erase(&queue);
  table_.erase(&queue);
}

}  // namespace bulkq
