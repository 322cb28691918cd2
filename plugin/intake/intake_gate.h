// IntakeGate: the decision at end-of-message — leave the message to the MTA, divert it to bulkq,
// or fail open — and, for a diverted message, its hand-over to the scheduler thread.
//
// The MTA shims call submit() from their own threads (the milter's callback threads), many at
// once. It is cheap and never blocks: the rules are pure, the health check reads atomics, the id
// comes from an atomic counter, and the hand-over is the lock-free IntakeHandoff. A message is
// diverted only when every step succeeded; whatever goes wrong before that (engine unhealthy,
// an envelope bulkq cannot queue, the handoff full) lets the message through to the MTA
// unchanged, with the reason, so nothing is lost (DESIGN §3.1, fail open).
//
// After kDivert the shim must still add the marker header and ask the MTA to hold the message;
// if that fails, the message simply never gets committed to the hold queue and the scheduler
// forgets it after intake.commit_timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"
#include "core/message_record.h"
#include "core/spool_ref.h"
#include "intake/bulk_rules.h"
#include "intake/intake_handoff.h"
#include "intake/intake_signals.h"
#include "quota/volume_counter.h"

namespace bulkq {

enum class IntakeAction : std::uint8_t {
  pass,       // not bulk: the MTA delivers it, untouched
  divert,     // bulk and handed over: hold it and add the marker with `id`
  fail_open,  // bulk, but bulkq cannot take it now: the MTA delivers it, untouched
  tempfail,   // bulk, past a volume limit with quota.action = tempfail: refuse it with 451 4.7.1
};

[[nodiscard]] constexpr std::string_view to_string(IntakeAction action) {
  switch (action) {
    case IntakeAction::pass:
      return "pass";
    case IntakeAction::divert:
      return "divert";
    case IntakeAction::fail_open:
      return "fail_open";
    case IntakeAction::tempfail:
      return "tempfail";
  }
  return "unknown";
}

struct IntakeDecision {
  IntakeAction action = IntakeAction::pass;
  MessageId id = 0;  // set when divert
  // divert: the bulk rule that matched; fail_open: why it was let through; tempfail: the limit.
  std::string reason;
};

// What the shim gathered about one message, at end-of-message.
struct IntakeEnvelope {
  std::string_view queue_id;  // the MTA's id ({i}); empty if the MTA did not send it
  std::string_view sender;    // without angle brackets; "" = null sender
  std::span<const std::string> recipients;
  TimePoint arrived{};
};

class IntakeGate {
 public:
  // `first_id` is the first MessageId to hand out (recovery says which: above every id used).
  IntakeGate(MtaKind kind, BulkRules rules, IntakeHandoff& handoff, IntakeSignals& signals,
             MessageId first_id);

  // Any thread, concurrently.
  [[nodiscard]] IntakeDecision submit(const MessageEvidence& evidence,
                                      const IntakeEnvelope& envelope);

  // Before the MTA's first message: recovery says where ids continue.
  void start_ids_at(MessageId first_id) { next_id_.store(first_id); }

  // Before the MTA's first message: every message about to be diverted is first counted by
  // `counter` (which must outlive the gate); one past a limit fails open or is tempfailed, as
  // `action` says, and counts nothing.
  void count_volume(VolumeCounter* counter, QuotaAction action) {
    volume_ = counter;
    volume_action_ = action;
  }
  // Any thread: a message submit() diverted could not be held after all (the MTA refused the
  // marker or the quarantine); its count is taken back.
  void refund_volume(const IntakeEnvelope& envelope);

  [[nodiscard]] const BulkRules& rules() const { return rules_; }

 private:
  IntakeDecision fail_open(std::atomic<std::uint64_t>& counter, std::string reason);

  MtaKind kind_;
  BulkRules rules_;
  IntakeHandoff& handoff_;
  IntakeSignals& signals_;
  std::atomic<MessageId> next_id_;
  VolumeCounter* volume_ = nullptr;
  QuotaAction volume_action_ = QuotaAction::fail_open;
};

}  // namespace bulkq
