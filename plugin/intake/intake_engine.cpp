#include "intake/intake_engine.h"

#include <algorithm>
#include <utility>

#include "core/message_builder.h"
#include "core/quoted_text.h"

namespace bulkq {
namespace {

// Per data node: the node itself and its share of ring slack and queue overhead (the scheduler
// benchmark measures ~30 bytes per recipient outside the record).
constexpr std::uint64_t kBytesPerNode = 32;

std::string queue_id_text(std::string_view queue_id) {
  return plain_or_quoted(queue_id, 40);
}

TimePoint from_unix_ms(std::int64_t ms) {
  return TimePoint(Duration(ms));
}

}  // namespace

IntakeEngine::IntakeEngine(const Clock& clock, Scheduler& scheduler, IntakeHandoff& handoff,
                           Journal& journal, SpoolAdapter& spool, IntakeSignals& signals,
                           IntakeEngineOptions options, EngineLog log)
    : clock_(clock),
      scheduler_(scheduler),
      handoff_(handoff),
      journal_(journal),
      spool_(spool),
      signals_(signals),
      options_(std::move(options)),
      log_(std::move(log)),
      started_(clock.now()) {
  signals_.memory_limit_bytes.store(options_.memory_limit_bytes, std::memory_order_relaxed);
}

void IntakeEngine::journal_put(MessageId id, const JournalRecord& record) {
  if (!batch_open_) {
    if (!journal_.begin_batch().ok()) {
      batch_open_ = false;
      journal_commit();  // records the failure
      return;
    }
    batch_open_ = true;
    batch_opened_at_ = clock_.now();
  }
  const JournalStatus status = journal_.put(id, record);
  if (status.kind == JournalErrorKind::rejected) {
    log(LogLevel::error, "journal: " + status.error);
  }
}

void IntakeEngine::journal_remove(MessageId id) {
  if (!batch_open_) {
    if (!journal_.begin_batch().ok()) {
      journal_commit();
      return;
    }
    batch_open_ = true;
    batch_opened_at_ = clock_.now();
  }
  (void)journal_.remove(id);
}

void IntakeEngine::journal_commit() {
  JournalStatus status;
  if (batch_open_) {
    status = journal_.commit_batch();
    batch_open_ = false;
  } else {
    status = journal_.health();
  }
  if (status.ok()) status = journal_.sync_if_due(clock_.now());
  const bool was_ok = signals_.journal_ok.load(std::memory_order_relaxed);
  if (!status.ok() && status.kind != JournalErrorKind::rejected) {
    if (was_ok || status.error != journal_error_) {
      log(LogLevel::error, "journal: " + status.error +
                               "; new bulk mail fails open to the MTA until the journal works");
    }
    journal_error_ = status.error;
    signals_.journal_ok.store(false, std::memory_order_relaxed);
  } else if (status.ok() && !was_ok) {
    log(LogLevel::info, "journal: writable again; bulk mail is diverted again");
    journal_error_.clear();
    signals_.journal_ok.store(true, std::memory_order_relaxed);
  }
}

void IntakeEngine::publish_health() {
  std::uint64_t pending_bytes = 0;
  for (const Pending& p : pending_) {
    if (p.message) pending_bytes += p.message->record.heap_bytes() + sizeof(IntakeMessage);
  }
  const QueueMap& queues = scheduler_.queues();
  memory_bytes_ = records_bytes_ + pending_bytes +
                  kBytesPerNode * (queues.queued_recipients() + queues.in_flight_recipients());
  signals_.memory_bytes.store(memory_bytes_, std::memory_order_relaxed);
}

bool IntakeEngine::drain_handoff(TimePoint now) {
  bool any = false;
  while (std::unique_ptr<IntakeMessage> message = handoff_.try_pop()) {
    any = true;
    JournalRecord record = make_journal_record(message->record);
    record.state = MessageState::pending_commit;
    const MessageId id = message->record.id();
    std::string queue_id(message->record.spool().queue_id);
    journal_put(id, record);
    pending_.push_back(
        {id, std::move(queue_id), std::move(message), now + options_.commit_timeout});
  }
  return any;
}

bool IntakeEngine::check_pending(TimePoint now) {
  bool any = false;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    bool keep = true;
    const HeldFileCheck check = spool_.check(p.queue_id);
    if (check.state == HeldFileState::committed) {
      keep = commit(p);
      any = any || !keep;
    } else if (check.state == HeldFileState::error && !p.warned) {
      log(LogLevel::warning, "message " + std::to_string(p.id) + " (queue id " +
                                 queue_id_text(p.queue_id) + "): " + check.error);
      p.warned = true;
    }
    if (keep && now >= p.deadline) {
      log(LogLevel::warning,
          queue_id_text(p.queue_id) + ": message " + std::to_string(p.id) +
              " forgotten: the MTA did not commit it to the hold queue within " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(options_.commit_timeout)
                      .count()) +
              " s (client aborted, or the message was rejected after the milter)");
      journal_remove(p.id);
      ++commit_expired_;
      keep = false;
      any = true;
    }
    if (keep) {
      if (kept != i) pending_[kept] = std::move(p);
      ++kept;
    }
  }
  pending_.resize(kept);
  return any;
}

bool IntakeEngine::commit(Pending& pending) {
  HeldEnvelopeResult read = spool_.read_envelope(pending.queue_id);
  if (!read.ok()) {
    log(LogLevel::error, read.error + "; message " + std::to_string(pending.id) +
                             " is not queued by bulkq and stays in the hold queue");
    journal_remove(pending.id);
    return false;
  }
  const HeldEnvelope& envelope = read.envelope;
  if (envelope.marker != pending.id) {
    // A short queue id recurs when its inode is reused: this held file is another message. Ours
    // may still appear under the same id, or expire.
    return true;
  }
  const TimePoint first_seen =
      pending.message ? pending.message->record.arrived() : from_unix_ms(envelope.arrival_unix_ms);
  // The file is the truth: the MTA may have rewritten recipients (virtual aliases, canonical
  // maps, other milters) after bulkq saw them. Reuse the milter's build only if it matches.
  bool same = pending.message != nullptr &&
              pending.message->record.recipient_count() == envelope.recipients.size();
  if (same) {
    const MessageRecord& record = pending.message->record;
    const RecipientRouting& routing = pending.message->routing;
    for (RecipientIndex r = 0; same && r < record.recipient_count(); ++r) {
      const std::string& address = envelope.recipients[r].address;
      const std::string_view local = record.local_part(r);
      const std::string_view domain = routing.domain(routing.domain_of(r));
      same = !envelope.recipients[r].done && address.size() == local.size() + 1 + domain.size() &&
             std::string_view(address).substr(0, local.size()) == local &&
             address[local.size()] == '@';
      if (same) {
        // The queue key is canonical (lower case, A-label); compare the same way.
        std::string_view file_domain = std::string_view(address).substr(local.size() + 1);
        same = std::equal(file_domain.begin(), file_domain.end(), domain.begin(), domain.end(),
                          [](char a, char b) {
                            return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b;
                          });
      }
    }
  }
  if (same) {
    JournalRecord record = make_journal_record(pending.message->record);
    record.state = MessageState::queued;
    journal_put(pending.id, record);
    records_bytes_ += pending.message->record.heap_bytes();
    (void)scheduler_.admit(std::move(*pending.message));
    return false;
  }
  if (!queue_from_file(pending.id, envelope, nullptr, first_seen)) journal_remove(pending.id);
  return false;
}

bool IntakeEngine::queue_from_file(MessageId id, const HeldEnvelope& envelope,
                                   const JournalRecord* record, TimePoint first_seen) {
  MessageBuilder builder(options_.kind, envelope.queue_id, envelope.sender, first_seen);
  for (std::size_t r = 0; r < envelope.recipients.size(); ++r) {
    std::string refused = builder.add_recipient(envelope.recipients[r].address);
    if (!refused.empty()) {
      log(LogLevel::error, queue_id_text(envelope.queue_id) + ": recipient " + std::to_string(r) +
                               " " +
                               quoted_text(envelope.recipients[r].address, 80, NonAscii::escape) +
                               " cannot be queued by bulkq (" + refused +
                               "); the message stays in the hold queue (release it with "
                               "postsuper -H)");
      return false;
    }
  }
  BuildResult built = builder.build(id);
  if (!built.ok()) {
    log(LogLevel::error, queue_id_text(envelope.queue_id) + ": cannot be queued by bulkq (" +
                             built.error + "); the message stays in the hold queue");
    return false;
  }
  MessageRecord& message = built.message->record;
  if (record != nullptr) {
    if (record->recipient_count == message.recipient_count()) {
      for (RecipientIndex r = 0; r < record->recipient_count; ++r) {
        if (record->finished(r)) message.set_finished(r);
      }
      for (std::uint16_t a = 0; a < record->attempts; ++a)
        message.count_attempt();
      message.set_next_retry(record->next_retry);
    } else {
      log(LogLevel::warning,
          queue_id_text(envelope.queue_id) + ": journal record of message " + std::to_string(id) +
              " has " + std::to_string(record->recipient_count) + " recipients, the held file " +
              std::to_string(message.recipient_count()) +
              "; its finished bits are ignored (recipients may receive the message twice)");
    }
  }
  // Recipients the MTA itself already delivered (Postfix `D`) are finished too.
  for (std::size_t r = 0; r < envelope.recipients.size(); ++r) {
    if (envelope.recipients[r].done) message.set_finished(static_cast<RecipientIndex>(r));
  }
  JournalRecord updated = make_journal_record(message);
  updated.state = MessageState::queued;
  if (message.all_finished()) {
    // Every recipient was finished before the last stop: only the clean-up was missing.
    const SpoolResult removed = spool_.remove(envelope.queue_id);
    if (!removed.ok()) {
      log(LogLevel::error, removed.error);
      journal_put(id, updated);
      return true;
    }
    journal_remove(id);
    ++recovery_.finished;
    return true;
  }
  journal_put(id, updated);
  recovery_.recipients += message.recipient_count() - message.finished_count();
  admit_recovered(std::move(built.message));
  return true;
}

void IntakeEngine::admit_recovered(std::unique_ptr<IntakeMessage> message) {
  records_bytes_ += message->record.heap_bytes();
  (void)scheduler_.admit_recovered(std::move(*message));
}

bool IntakeEngine::step() {
  const TimePoint now = clock_.now();
  bool any = drain_handoff(now);
  if (!pending_.empty()) any = check_pending(now) || any;
  const Duration window = options_.journal_group_window;
  if (!batch_open_ || window <= Duration{0} || clock_.now() - batch_opened_at_ >= window) {
    journal_commit();
  }
  publish_health();
  return any;
}

void IntakeEngine::drain() {
  drain_handoff(clock_.now());
  journal_commit();
  publish_health();
}

EngineStatus IntakeEngine::status() const {
  EngineStatus s;
  s.version = options_.version;
  const TimePoint now = clock_.now();
  s.started_unix =
      std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count();
  s.uptime_seconds = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(now - started_).count()));
  const QueueMap& queues = scheduler_.queues();
  s.messages = scheduler_.messages().size();
  s.recipients = queues.queued_recipients() + queues.in_flight_recipients();
  s.domains = queues.queue_count();
  s.pending_commit = pending_.size();
  s.diverted_total = signals_.diverted.load(std::memory_order_relaxed);
  s.passed_total = signals_.passed.load(std::memory_order_relaxed);
  s.commit_expired_total = commit_expired_;
  s.fail_open = signals_.fail_open();
  s.volume.tempfailed = signals_.quota_tempfailed.load(std::memory_order_relaxed);
  s.journal_ok = signals_.journal_ok.load(std::memory_order_relaxed);
  s.journal_error = journal_error_;
  s.memory_bytes = memory_bytes_;
  s.memory_limit_bytes = options_.memory_limit_bytes;
  s.recovered_messages = recovery_.recovered;
  s.adopted_messages = recovery_.adopted;
  s.dropped_records = recovery_.dropped;
  return s;
}

}  // namespace bulkq
