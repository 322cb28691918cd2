#include "core/scheduler.h"

#include <cassert>

namespace bulkq {

Scheduler::Scheduler(const Clock& clock, SchedulerLimits limits)
    : clock_(clock), limits_(limits), queues_(limits.policy) {}

MessageIndex Scheduler::admit(IntakeMessage&& message) {
  assert(message.routing.recipient_count() == message.record.recipient_count());
  message.record.set_state(MessageState::queued);
  const MessageIndex index = messages_.insert(std::move(message.record));
  queues_.file_message(index, message.routing, clock_.now());
  return index;
}

MessageIndex Scheduler::admit_recovered(IntakeMessage&& message) {
  assert(message.routing.recipient_count() == message.record.recipient_count());
  assert(!message.record.all_finished());
  message.record.set_state(MessageState::queued);
  const MessageIndex index = messages_.insert(std::move(message.record));
  queues_.file_unfinished(index, message.routing, messages_[index].finished_bits(), clock_.now());
  return index;
}

void Scheduler::admit(std::span<std::unique_ptr<IntakeMessage>> messages) {
  admitting_.clear();
  for (auto& message : messages) {
    assert(message && message->routing.recipient_count() == message->record.recipient_count());
    message->record.set_state(MessageState::queued);
    admitting_.push_back({messages_.insert(std::move(message->record)), &message->routing});
  }
  queues_.file_messages(admitting_, clock_.now());
  for (auto& message : messages)
    message.reset();
}

std::uint64_t Scheduler::withdraw(std::span<const MessageIndex> messages) {
  const std::uint64_t removed = queues_.withdraw(messages);
  for (const MessageIndex m : messages)
    messages_.erase(m);
  return removed;
}

bool Scheduler::next_batch(Batch& out) {
  const Selection selection = queues_.select(clock_.now());
  if (selection.kind != Selection::Kind::ready) {
    out.clear();
    return false;
  }
  queues_.take_batch(*selection.queue, limits_.batch_max_recipients, out);
  queues_.prefetch_next();
  return !out.empty();
}

void Scheduler::complete(const Batch& batch, std::span<const RecipientOutcome> outcomes,
                         std::vector<MessageIndex>& finished_messages) {
  assert(outcomes.size() == batch.recipients.size());
  // Each message group's record is a cache miss; start them all before touching any.
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    messages_.prefetch(batch.message_group(g).front().message);
  }
  retry_.clear();
  untouched_.clear();
  for (std::size_t i = 0; i < batch.recipients.size(); ++i) {
    const BatchRecipient& recipient = batch.recipients[i];
    if (outcomes[i] == RecipientOutcome::retry) {
      retry_.push_back(recipient);
    } else if (outcomes[i] == RecipientOutcome::untouched) {
      untouched_.push_back(recipient);
    } else if (outcomes[i] == RecipientOutcome::deferred) {
      continue;  // leaves the queue unfinished; refile() brings it back
    } else {
      messages_[recipient.message].set_finished(recipient.recipient);
    }
  }
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    const std::span<const BatchRecipient> group = batch.message_group(g);
    const MessageIndex message = group.front().message;
    MessageRecord& record = messages_[message];
    const std::size_t first = static_cast<std::size_t>(group.data() - batch.recipients.data());
    if (outcomes[first] != RecipientOutcome::untouched) record.count_attempt();
    if (record.all_finished()) finished_messages.push_back(message);
  }
  queues_.complete_batch(batch, retry_, clock_.now(), untouched_);
}

}  // namespace bulkq
