// LmdbJournal: the Journal kept in one LMDB environment on local disk.
//
// Layout: the environment is a directory (mode 0700, created if missing; its parent must exist)
// holding LMDB's data.mdb and lock.mdb (mode 0600). Two named databases:
//   "messages"  one record per held message: key = the MessageId as 8 big-endian bytes (so the
//               walk is in id order), value = the JournalRecord encoding (journal_record.h).
//   "meta"      "highest_id" = the highest id ever committed (8 big-endian bytes), kept apart
//               from the records so that removing the newest message cannot let its id be
//               reused after a restart.
// A batch is one LMDB write transaction covering many messages.
//
// Durability (options.sync_interval):
//   - zero (the default): every commit_batch() is durable when it returns — LMDB fsyncs the data
//     and meta pages before it reports success. A crash of the process or the machine at any
//     instant loses no committed batch.
//   - positive: the environment runs with MDB_NOSYNC and sync_if_due(now) calls mdb_env_sync
//     once `sync_interval` has passed since the last flush (or since the last call that found
//     nothing to flush). A committed batch is written to the file before commit_batch()
//     returns, so a killed or crashed bulkqd loses nothing; but an operating-system crash or
//     power loss loses the batches committed since the last flush — at most sync_interval plus
//     the time between two sync_if_due calls. LMDB keeps the database consistent in that case
//     (atomicity without durability, given a filesystem that preserves write order; MDB_WRITEMAP
//     is not used). Lost batches mean recipients delivered again, never recipients lost, as long
//     as the engine commits "finished" only after delivery. The destructor flushes.
//
// Errors carry mdb_strerror's text, the operation and the message id, prefixed with the
// directory: "journal /var/lib/bulkq/journal: put message 42: MDB_MAP_FULL: Environment mapsize
// limit reached". MDB_MAP_FULL is reported as JournalErrorKind::map_full.
//
// Thread: the environment, its databases and every transaction are owned by the scheduler
// thread, which makes every call, from open() to destruction. LMDB allows one write transaction
// at a time, and the batch is it; walk() and highest_id() use a read transaction of the same
// thread when no batch is open (or the batch's own transaction when one is). Not thread-safe.
// No exception escapes (an allocation failure aside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "journal/journal.h"

struct MDB_env;
struct MDB_txn;

namespace bulkq {

inline constexpr const char* kJournalMessagesDatabase = "messages";
inline constexpr const char* kJournalMetaDatabase = "meta";
inline constexpr const char* kJournalHighestIdKey = "highest_id";

struct LmdbJournalOptions {
  std::string directory;                        // created with mode 0700 if missing
  std::size_t map_size = std::size_t{1} << 30;  // the most the journal may grow to (1 GiB)
  Duration sync_interval{0};                    // 0: every commit durable; see above
};

class LmdbJournal;

struct LmdbJournalOpenResult {
  std::unique_ptr<LmdbJournal> journal;  // set when ok()
  std::string error;                     // set when !ok(): the directory, the step, the cause
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class LmdbJournal final : public Journal {
 public:
  // Opens the environment in options.directory, creating the directory and the databases when
  // they do not exist, and clears reader slots left by dead processes.
  [[nodiscard]] static LmdbJournalOpenResult open(const LmdbJournalOptions& options);

  ~LmdbJournal() override;  // aborts an open batch, flushes (NOSYNC mode), closes
  LmdbJournal(const LmdbJournal&) = delete;
  LmdbJournal& operator=(const LmdbJournal&) = delete;

  // Journal
  [[nodiscard]] JournalStatus begin_batch() override;
  [[nodiscard]] JournalStatus put(MessageId id, const JournalRecord& record) override;
  [[nodiscard]] JournalStatus set_finished(MessageId id,
                                           std::span<const RecipientIndex> recipients) override;
  [[nodiscard]] JournalStatus remove(MessageId id) override;
  [[nodiscard]] JournalStatus commit_batch() override;
  void abort_batch() override;
  [[nodiscard]] JournalStatus walk(const std::function<void(const JournalEntry&)>& visit) override;
  [[nodiscard]] HighestIdResult highest_id() override;
  [[nodiscard]] JournalStatus sync_if_due(TimePoint now) override;
  [[nodiscard]] JournalStatus health() const override { return health_; }

  // Batches committed but not yet flushed to disk (always 0 when every commit is durable).
  [[nodiscard]] std::uint64_t unsynced_batches() const { return unsynced_batches_; }
  [[nodiscard]] const LmdbJournalOptions& options() const { return options_; }

 private:
  explicit LmdbJournal(LmdbJournalOptions options) : options_(std::move(options)) {}

  [[nodiscard]] std::string open_environment();
  [[nodiscard]] JournalStatus lmdb_failure(int rc, const std::string& operation);
  [[nodiscard]] JournalStatus rejected(const std::string& what) const;
  [[nodiscard]] JournalStatus batch_usable(const char* operation) const;
  void fail_batch(const JournalStatus& status);
  [[nodiscard]] JournalStatus read_highest_id(MDB_txn* txn, MessageId& id);

  LmdbJournalOptions options_;
  MDB_env* env_ = nullptr;
  unsigned int messages_dbi_ = 0;  // MDB_dbi
  unsigned int meta_dbi_ = 0;      // MDB_dbi
  MDB_txn* batch_ = nullptr;       // the open batch's write transaction
  JournalStatus batch_error_;      // the storage failure that failed the open batch
  MessageId batch_highest_id_ = 0;
  JournalStatus health_;
  std::uint64_t unsynced_batches_ = 0;
  TimePoint last_flush_{};
  bool flush_clock_started_ = false;
};

}  // namespace bulkq
