// Scheduler: the engine's pure core — the message table, the queue map and the rules that tie
// them: admitting a new message, choosing and taking the next batch, applying its outcomes.
//
// Runs on the scheduler thread only. It reads time from an injected Clock and touches no socket,
// file or lock; the intake handoff feeds it and delivery reports back to it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/batch.h"
#include "core/clock.h"
#include "core/intake_message.h"
#include "core/message_table.h"
#include "core/queue_map.h"
#include "core/scheduler_limits.h"

namespace bulkq {

enum class RecipientOutcome : std::uint8_t {
  delivered,  // finished: the destination took it
  bounced,    // finished: permanent failure, a DSN goes to the sender
  retry,      // not finished: back to the head of its queue at once
  deferred,   // not finished: leaves its queue; the caller refiles it when its retry delay ends
  untouched,  // never offered to the destination: back to the head, no attempt counted
};

class Scheduler {
 public:
  Scheduler(const Clock& clock, SchedulerLimits limits);

  // Takes ownership of a new message: its record joins the table and one node per recipient
  // joins its domain's queue.
  MessageIndex admit(IntakeMessage&& message);
  // The same for several messages at once (a round drained from the handoff), which files them
  // faster than one by one. Every message is consumed.
  void admit(std::span<std::unique_ptr<IntakeMessage>> messages);
  // Admits a message rebuilt by recovery: recipients already finished in its record (set with
  // MessageRecord::set_finished before the call) get no data node. The caller does not admit a
  // message whose every recipient is finished.
  MessageIndex admit_recovered(IntakeMessage&& message);
  // How many messages one admission round should take at most.
  static constexpr std::size_t kAdmissionRound = 16;

  // The next queue to serve (see QueueMap::select).
  Selection select() { return queues_.select(clock_.now()); }

  // Selects a queue and takes up to limits().batch_max_recipients of its recipients into `out`.
  // Returns false, leaving `out` empty, when no queue is eligible now.
  bool next_batch(Batch& out);

  // Applies one outcome per batch recipient (same order as batch.recipients). Finished recipients
  // set their message's bit; retries go back to their queue keeping the bits already set.
  // Messages whose every recipient is now finished are appended to `finished_messages`; the
  // caller removes them from the spool and then calls forget().
  void complete(const Batch& batch, std::span<const RecipientOutcome> outcomes,
                std::vector<MessageIndex>& finished_messages);

  void forget(MessageIndex message) { messages_.erase(message); }

  // bulkqctl release: `messages` leave bulkq — their waiting nodes leave every domain queue and
  // their records the table (the indexes are invalid afterwards). None of them may be in flight.
  // Returns the nodes removed.
  std::uint64_t withdraw(std::span<const MessageIndex> messages);

  // Files recipients reported `deferred` back into `domain`'s queue (their retry delay ended).
  void refile(std::string_view domain, std::span<const BatchRecipient> recipients) {
    queues_.refile(domain, recipients, clock_.now());
  }

  [[nodiscard]] const SchedulerLimits& limits() const { return limits_; }
  [[nodiscard]] MessageTable& messages() { return messages_; }
  [[nodiscard]] const MessageTable& messages() const { return messages_; }
  [[nodiscard]] QueueMap& queues() { return queues_; }
  [[nodiscard]] const QueueMap& queues() const { return queues_; }

 private:
  const Clock& clock_;
  SchedulerLimits limits_;
  MessageTable messages_;
  QueueMap queues_;
  std::vector<BatchRecipient> retry_;            // scratch for complete()
  std::vector<BatchRecipient> untouched_;        // scratch for complete()
  std::vector<QueueMap::NewMessage> admitting_;  // scratch for admit()
};

}  // namespace bulkq
