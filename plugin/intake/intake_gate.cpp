#include "intake/intake_gate.h"

#include <memory>
#include <utility>

#include "core/message_builder.h"

namespace bulkq {

namespace {

// The part after the last '@' ("" for the null sender, or an address without one).
std::string_view sender_domain(std::string_view sender) {
  const std::size_t at = sender.rfind('@');
  return at == std::string_view::npos ? std::string_view() : sender.substr(at + 1);
}

}  // namespace

IntakeGate::IntakeGate(MtaKind kind, BulkRules rules, IntakeHandoff& handoff,
                       IntakeSignals& signals, MessageId first_id)
    : kind_(kind),
      rules_(std::move(rules)),
      handoff_(handoff),
      signals_(signals),
      next_id_(first_id) {}

void IntakeGate::refund_volume(const IntakeEnvelope& envelope) {
  if (volume_ == nullptr) return;
  volume_->refund(sender_domain(envelope.sender),
                  static_cast<std::uint32_t>(envelope.recipients.size()),
                  std::chrono::system_clock::time_point(envelope.arrived));
}

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
  // Counted last of the checks, so a message let through for another reason uses no quota.
  const std::string_view domain = sender_domain(envelope.sender);
  const auto recipients = static_cast<std::uint32_t>(envelope.recipients.size());
  const std::chrono::system_clock::time_point counted_at(envelope.arrived);
  if (volume_ != nullptr) {
    const VolumeAdmission admission = volume_->admit(domain, recipients, counted_at);
    if (!admission.admitted()) {
      if (volume_action_ == QuotaAction::tempfail) {
        signals_.quota_tempfailed.fetch_add(1, std::memory_order_relaxed);
        return {IntakeAction::tempfail, 0, admission.describe()};
      }
      return fail_open(signals_.fail_open_quota, admission.describe());
    }
  }
  if (handoff_.try_push(built.message) == HandoffResult::full) {
    if (volume_ != nullptr) volume_->refund(domain, recipients, counted_at);
    return fail_open(signals_.fail_open_handoff, "the handoff to the scheduler is full (" +
                                                     std::to_string(handoff_.capacity()) +
                                                     " messages waiting)");
  }
  signals_.diverted.fetch_add(1, std::memory_order_relaxed);
  return {IntakeAction::divert, id, std::move(verdict.reason)};
}

}  // namespace bulkq
