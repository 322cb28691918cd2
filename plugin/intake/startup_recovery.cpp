// IntakeEngine::recover — startup recovery (DESIGN §3.4), apart from the running intake code.
//
// Order matters: the journal walk only collects (LMDB allows one transaction per thread and
// visit must not call back); then every record is checked against its held file; then the hold
// queue is scanned for files carrying bulkq's marker that no record names; all changes go into
// one journal batch.
#include <algorithm>
#include <unordered_set>
#include <utility>

#include "core/quoted_text.h"
#include "intake/intake_engine.h"

namespace bulkq {

RecoveryReport IntakeEngine::recover() {
  recovery_ = {};
  std::vector<std::pair<MessageId, JournalRecord>> records;
  std::vector<MessageId> undecodable;
  const JournalStatus walked = journal_.walk([&](const JournalEntry& entry) {
    if (entry.ok()) {
      records.emplace_back(entry.id, entry.record);
    } else {
      log(LogLevel::error, "journal: " + entry.error + "; the record is removed");
      if (entry.id != 0) undecodable.push_back(entry.id);
      ++recovery_.errors;
    }
  });
  const HighestIdResult highest = journal_.highest_id();
  if (!walked.ok() || !highest.ok()) {
    recovery_.journal_ok = false;
    recovery_.journal_error = !walked.ok() ? walked.error : highest.status.error;
    log(LogLevel::critical, "journal: cannot be read: " + recovery_.journal_error);
    return recovery_;
  }
  MessageId next_id = highest.id + 1;
  for (MessageId id : undecodable)
    journal_remove(id);

  const TimePoint now = clock_.now();
  std::unordered_set<std::string> known_queue_ids;
  std::unordered_set<MessageId> known_ids;
  known_queue_ids.reserve(records.size());
  known_ids.reserve(records.size());
  for (auto& [id, record] : records) {
    next_id = std::max(next_id, id + 1);
    const std::string name = plain_or_quoted(record.queue_id, 40);
    const HeldFileCheck check = spool_.check(record.queue_id);
    if (check.state == HeldFileState::missing && record.recipient_count > 0 &&
        record.finished_count() == record.recipient_count) {
      // Delivery removed the file and was stopped before removing the record: done already.
      journal_remove(id);
      ++recovery_.finished;
      continue;
    }
    if (check.state == HeldFileState::missing) {
      log(LogLevel::warning, name + ": journal record of message " + std::to_string(id) +
                                 " dropped: its held file is gone (released or removed by an "
                                 "admin, or never committed by the MTA)");
      journal_remove(id);
      ++recovery_.dropped;
      continue;
    }
    known_queue_ids.insert(record.queue_id);
    known_ids.insert(id);
    if (check.state == HeldFileState::error) {
      log(LogLevel::error,
          name + ": message " + std::to_string(id) + " left as it is: " + check.error);
      ++recovery_.errors;
      continue;
    }
    if (check.state == HeldFileState::incomplete) {
      pending_.push_back({id, record.queue_id, nullptr, now + options_.commit_timeout});
      ++recovery_.pending;
      continue;
    }
    HeldEnvelopeResult read = spool_.read_envelope(record.queue_id);
    if (!read.ok()) {
      log(LogLevel::error, read.error + "; message " + std::to_string(id) +
                               " stays in the hold queue, not queued by bulkq");
      ++recovery_.errors;
      continue;
    }
    if (read.envelope.marker != id) {
      // The queue id was reused by another message (short ids recur with inodes).
      log(LogLevel::warning, name + ": journal record of message " + std::to_string(id) +
                                 " dropped: the held file of that name is another message");
      known_queue_ids.erase(record.queue_id);
      known_ids.erase(id);
      journal_remove(id);
      ++recovery_.dropped;
      continue;
    }
    const std::uint64_t finished_before = recovery_.finished;
    if (queue_from_file(id, read.envelope, &record, record.first_seen)) {
      if (recovery_.finished == finished_before) ++recovery_.recovered;
    } else {
      journal_remove(id);
      ++recovery_.errors;
    }
  }

  std::uint64_t foreign = 0;
  const SpoolResult listed = spool_.list_held([&](std::string_view queue_id) {
    if (known_queue_ids.count(std::string(queue_id)) != 0) return;
    HeldEnvelopeResult read = spool_.read_envelope(queue_id);
    if (!read.ok()) {
      log(LogLevel::error, read.error + " (a held file bulkq does not know; left alone)");
      ++recovery_.errors;
      return;
    }
    if (!read.envelope.marker) {
      ++foreign;  // held by an admin or another milter: not ours to touch
      return;
    }
    const MessageId id = *read.envelope.marker;
    if (known_ids.count(id) != 0) {
      log(LogLevel::error, plain_or_quoted(queue_id, 40) + ": carries the marker of message " +
                               std::to_string(id) +
                               ", which another held file already has; left alone");
      ++recovery_.errors;
      return;
    }
    next_id = std::max(next_id, id + 1);
    known_ids.insert(id);
    log(LogLevel::info, plain_or_quoted(queue_id, 40) + ": adopted as message " +
                            std::to_string(id) + " (held with bulkq's marker, no journal record)");
    const TimePoint arrived = TimePoint(Duration(read.envelope.arrival_unix_ms));
    if (queue_from_file(id, read.envelope, nullptr, arrived)) {
      ++recovery_.adopted;
    } else {
      ++recovery_.errors;
    }
  });
  if (!listed.ok()) {
    log(LogLevel::error, "hold queue scan: " + listed.error);
    ++recovery_.errors;
  }
  if (foreign > 0) {
    log(LogLevel::info, std::to_string(foreign) +
                            " held message(s) without bulkq's marker left alone (held by an "
                            "admin or another milter)");
  }
  journal_commit();
  recovery_.journal_ok = signals_.journal_ok.load(std::memory_order_relaxed);
  recovery_.journal_error = journal_error_;
  publish_health();
  recovery_.next_id = next_id;
  log(LogLevel::info, "recovery: " + std::to_string(recovery_.recovered) + " message(s) rebuilt, " +
                          std::to_string(recovery_.adopted) + " adopted, " +
                          std::to_string(recovery_.dropped) + " record(s) dropped, " +
                          std::to_string(recovery_.finished) + " finished, " +
                          std::to_string(recovery_.pending) + " waiting for the MTA, " +
                          std::to_string(recovery_.errors) + " error(s); " +
                          std::to_string(recovery_.recipients) + " recipient(s) queued in " +
                          std::to_string(scheduler_.queues().queue_count()) + " domain queue(s)");
  return recovery_;
}

}  // namespace bulkq
