// Journal: the recovery store the engine writes message state to, and reads back at startup.
//
// The engine's one seam to durable state (STYLE's "RecoveryStore"; DESIGN §3.4 calls it the
// journal). LmdbJournal is the real one; tests/fakes/fake_journal.h is an in-memory fake.
//
// Writes come in batches: begin_batch(), any number of put / set_finished / remove for many
// messages, then commit_batch(). A batch is all-or-nothing: after a crash either every change
// of a committed batch is there or none of an uncommitted one is, so a recipient is never
// marked finished before the batch that says so commits, and duplicates after a kill are bounded
// by the batches in flight (DESIGN §4). One batch is open at a time.
//
// Errors are values, never exceptions. Each carries a kind:
//   - rejected: the request itself was wrong (no batch open, unknown id, recipient out of range,
//     an invalid record, a stored record that no longer decodes). Nothing changed; an open batch
//     goes on and can still commit.
//   - storage / map_full: the store failed. An open batch is failed: later operations return the
//     same error without doing anything, and commit_batch() discards the batch and returns it.
//     map_full means the store is out of space: the engine fails open for new mail (DESIGN §3.1).
// health() keeps the last storage or map_full error until a batch commits again.
//
// Owned by one thread — the scheduler thread — which makes every call. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/message_record.h"
#include "journal/journal_record.h"

namespace bulkq {

enum class JournalErrorKind : std::uint8_t { none, rejected, storage, map_full };

[[nodiscard]] constexpr std::string_view to_string(JournalErrorKind kind) {
  switch (kind) {
    case JournalErrorKind::none:
      return "none";
    case JournalErrorKind::rejected:
      return "rejected";
    case JournalErrorKind::storage:
      return "storage";
    case JournalErrorKind::map_full:
      return "map_full";
  }
  return "unknown";
}

struct JournalStatus {
  JournalErrorKind kind = JournalErrorKind::none;
  std::string error;  // set when !ok(): the operation, the message id if any, and the cause
  [[nodiscard]] bool ok() const { return kind == JournalErrorKind::none; }
};

// One record met by walk(): either its decoded record or why it does not decode. Either way
// `error` names the message id, so a log line can say which record was skipped.
struct JournalEntry {
  MessageId id = 0;      // 0 only when the key itself is malformed (the error shows its bytes)
  JournalRecord record;  // set when ok()
  std::string error;     // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

struct HighestIdResult {
  MessageId id = 0;  // the highest id ever committed, 0 if none; new ids start above it
  JournalStatus status;
  [[nodiscard]] bool ok() const { return status.ok(); }
};

class Journal {
 public:
  virtual ~Journal() = default;

  [[nodiscard]] virtual JournalStatus begin_batch() = 0;
  // Stores the whole record of message `id`, replacing any record it had.
  [[nodiscard]] virtual JournalStatus put(MessageId id, const JournalRecord& record) = 0;
  // Sets the finished bits of `recipients` in the stored record of message `id` (bits already
  // set stay set). Rejected, with nothing changed, if the message has no record or an index is
  // not below its recipient count.
  [[nodiscard]] virtual JournalStatus set_finished(MessageId id,
                                                   std::span<const RecipientIndex> recipients) = 0;
  // Removes message `id`'s record. Removing a message that has none is not an error (recovery
  // may remove what was already removed).
  [[nodiscard]] virtual JournalStatus remove(MessageId id) = 0;
  // Makes the batch's changes durable (see the implementation for when they reach the disk).
  [[nodiscard]] virtual JournalStatus commit_batch() = 0;
  // Discards the open batch, if any.
  virtual void abort_batch() = 0;

  // Calls `visit` for every record in id order. A record that does not decode is reported with
  // its id and the walk goes on. The walk sees an open batch's changes. The status says whether
  // the walk itself could run to the end. `visit` must not call back into the journal (LMDB
  // allows a thread one transaction at a time): collect what to change, change it after.
  [[nodiscard]] virtual JournalStatus walk(
      const std::function<void(const JournalEntry&)>& visit) = 0;

  // The highest id ever committed, even if its record has since been removed, so ids are never
  // reused after a restart.
  [[nodiscard]] virtual HighestIdResult highest_id() = 0;

  // Flushes committed batches to disk if the implementation defers that and it is due.
  [[nodiscard]] virtual JournalStatus sync_if_due(TimePoint now) = 0;

  // ok() while writes are succeeding; otherwise the last storage or map_full error.
  [[nodiscard]] virtual JournalStatus health() const = 0;
};

}  // namespace bulkq
