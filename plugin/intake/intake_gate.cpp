#include "intake/intake_gate.h"

#include <memory>
#include <utility>

#include "core/message_builder.h"

namespace bulkq {

IntakeGate::IntakeGate(MtaKind kind, BulkRules rules, IntakeHandoff& handoff,
                       IntakeSignals& signals, MessageId first_id)
    : kind_(kind),
      rules_(std::move(rules)),
      handoff_(handoff),
      signals_(signals),
      next_id_(first_id) {}

IntakeDecision IntakeGate::fail_open(std::atomic<std::uint64_t>& counter, std::string reason) {
  counter.fetch_add(1, std::memory_order_relaxed);
  return {IntakeAction::fail_open, 0, std::move(reason)};
}

IntakeDecision IntakeGate::submit(const MessageEvidence& evidence, const IntakeEnvelope& envelope) {
  BulkVerdict verdict = classify(rules_, evidence);
  if (!verdict.bulk) {
    signals_.passed.fetch_add(1, std::memory_order_relaxed);
    return {IntakeAction::pass, 0, {}};
  }
  // Cheapest checks first: a stopping or unhealthy engine decides without building anything.
  if (signals_.stopping.load(std::memory_order_relaxed)) {
    return fail_open(signals_.fail_open_spool, "bulkqd is stopping");
  }
  if (!signals_.journal_ok.load(std::memory_order_relaxed)) {
    return fail_open(signals_.fail_open_journal, "the recovery journal is not writable");
  }
  const std::uint64_t memory = signals_.memory_bytes.load(std::memory_order_relaxed);
  const std::uint64_t limit = signals_.memory_limit_bytes.load(std::memory_order_relaxed);
  if (limit != 0 && memory >= limit) {
    return fail_open(signals_.fail_open_memory, "the engine's memory limit is reached (" +
                                                    std::to_string(memory >> 20) + " of " +
                                                    std::to_string(limit >> 20) + " MiB)");
  }
  if (envelope.queue_id.empty()) {
    return fail_open(signals_.fail_open_spool,
                     "the MTA sent no queue id (macro i) at end-of-message");
  }
  if (envelope.recipients.empty()) {
    return fail_open(signals_.fail_open_spool, "the message has no recipients");
  }

  MessageBuilder builder(kind_, envelope.queue_id, envelope.sender, envelope.arrived);
  for (const std::string& recipient : envelope.recipients) {
    std::string refused = builder.add_recipient(recipient);
    if (!refused.empty()) {
      // The MTA knows how to deliver or bounce what bulkq cannot queue; a partly diverted
      // message would split one message's fate in two.
      return fail_open(signals_.fail_open_spool, "recipient cannot be queued: " + refused);
    }
  }
  const MessageId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  BuildResult built = builder.build(id);
  if (!built.ok()) return fail_open(signals_.fail_open_spool, "cannot queue: " + built.error);
  if (handoff_.try_push(built.message) == HandoffResult::full) {
    return fail_open(signals_.fail_open_handoff, "the handoff to the scheduler is full (" +
                                                     std::to_string(handoff_.capacity()) +
                                                     " messages waiting)");
  }
  signals_.diverted.fetch_add(1, std::memory_order_relaxed);
  return {IntakeAction::divert, id, std::move(verdict.reason)};
}

}  // namespace bulkq
