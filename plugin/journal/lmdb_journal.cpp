#include "journal/lmdb_journal.h"

#include <lmdb.h>

#include <utility>

#include "journal/lmdb_environment.h"

#include "journal/lmdb_handles.h"

namespace bulkq {
namespace {

std::string message_operation(const char* operation, MessageId id) {
  return std::string(operation) + " message " + std::to_string(id);
}

}  // namespace

LmdbJournalOpenResult LmdbJournal::open(const LmdbJournalOptions& options) {
  LmdbJournalOpenResult result;
  // The constructor is private, so no make_unique.
  result.journal.reset(new LmdbJournal(options));
  result.error = result.journal->open_environment();
  if (!result.ok()) result.journal.reset();
  return result;
}

std::string LmdbJournal::open_environment() {
  LmdbEnvironmentOptions environment;
  environment.directory = options_.directory;
  environment.map_size = options_.map_size;
  environment.max_databases = 2;
  environment.no_sync = options_.sync_interval > Duration{0};
  LmdbEnvironmentOpenResult opened = open_lmdb_environment("journal", environment);
  if (!opened.ok()) return opened.error;
  env_ = opened.env.release();  // closed by the destructor

  const std::string prefix = "journal " + options_.directory + ": ";
  auto failed = [&](const char* step, int rc) { return prefix + step + ": " + mdb_strerror(rc); };
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
    return failed("begin the transaction that opens the databases", rc);
  }
  MDB_dbi messages = 0;
  MDB_dbi meta = 0;
  if (int rc = mdb_dbi_open(txn, kJournalMessagesDatabase, MDB_CREATE, &messages); rc != 0) {
    mdb_txn_abort(txn);
    return failed("open the messages database", rc);
  }
  if (int rc = mdb_dbi_open(txn, kJournalMetaDatabase, MDB_CREATE, &meta); rc != 0) {
    mdb_txn_abort(txn);
    return failed("open the meta database", rc);
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return failed("commit the databases", rc);
  messages_dbi_ = messages;
  meta_dbi_ = meta;
  return {};
}

LmdbJournal::~LmdbJournal() {
  if (env_ == nullptr) return;
  abort_batch();
  // The one flush a NOSYNC journal owes on a clean shutdown. Nobody is left to tell about a
  // failure; the batches are still in the page cache, which a clean shutdown writes anyway.
  if (unsynced_batches_ > 0) (void)mdb_env_sync(env_, 1);
  mdb_env_close(env_);
}

JournalStatus LmdbJournal::lmdb_failure(int rc, const std::string& operation) {
  JournalStatus status;
  status.kind = rc == MDB_MAP_FULL ? JournalErrorKind::map_full : JournalErrorKind::storage;
  status.error = "journal " + options_.directory + ": " + operation + ": " + mdb_strerror(rc);
  health_ = status;
  return status;
}

JournalStatus LmdbJournal::rejected(const std::string& what) const {
  return JournalStatus{JournalErrorKind::rejected, "journal " + options_.directory + ": " + what};
}

JournalStatus LmdbJournal::batch_usable(const char* operation) const {
  if (batch_ == nullptr) return rejected(std::string(operation) + ": no batch is open");
  return batch_error_;
}

void LmdbJournal::fail_batch(const JournalStatus& status) {
  if (batch_error_.ok()) batch_error_ = status;
}

JournalStatus LmdbJournal::begin_batch() {
  if (batch_ != nullptr) return rejected("begin batch: a batch is already open");
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &batch_); rc != 0) {
    batch_ = nullptr;
    return lmdb_failure(rc, "begin batch");
  }
  batch_error_ = {};
  batch_highest_id_ = 0;
  return {};
}

JournalStatus LmdbJournal::put(MessageId id, const JournalRecord& record) {
  if (JournalStatus s = batch_usable("put"); !s.ok()) return s;
  const EncodedJournalRecord encoded = encode_journal_record(record);
  if (!encoded.ok()) return rejected(message_operation("put", id) + ": " + encoded.error);
  const auto key_bytes = encode_journal_key(id);
  MDB_val key = as_mdb_val({key_bytes.data(), key_bytes.size()});
  MDB_val value = as_mdb_val(encoded.bytes);
  if (int rc = mdb_put(batch_, messages_dbi_, &key, &value, 0); rc != 0) {
    JournalStatus failure = lmdb_failure(rc, message_operation("put", id));
    fail_batch(failure);
    return failure;
  }
  if (id > batch_highest_id_) batch_highest_id_ = id;
  return {};
}

JournalStatus LmdbJournal::set_finished(MessageId id, std::span<const RecipientIndex> recipients) {
  if (JournalStatus s = batch_usable("set finished"); !s.ok()) return s;
  const auto key_bytes = encode_journal_key(id);
  MDB_val key = as_mdb_val({key_bytes.data(), key_bytes.size()});
  MDB_val value{};
  if (int rc = mdb_get(batch_, messages_dbi_, &key, &value); rc != 0) {
    if (rc == MDB_NOTFOUND) {
      return rejected(message_operation("set finished", id) + ": the message has no record");
    }
    JournalStatus failure = lmdb_failure(rc, message_operation("set finished: read", id));
    fail_batch(failure);
    return failure;
  }
  DecodedJournalRecord decoded = decode_journal_record(as_view(value));
  if (!decoded.ok()) {
    return rejected(message_operation("set finished", id) + ": stored " + decoded.error);
  }
  for (RecipientIndex r : recipients) {
    if (r >= decoded.record.recipient_count) {
      return rejected(message_operation("set finished", id) + ": recipient " + std::to_string(r) +
                      " is out of range (the message has " +
                      std::to_string(decoded.record.recipient_count) + " recipients)");
    }
  }
  for (RecipientIndex r : recipients)
    decoded.record.set_finished(r);
  EncodedJournalRecord encoded = encode_journal_record(decoded.record);
  if (!encoded.ok()) return rejected(message_operation("set finished", id) + ": " + encoded.error);
  MDB_val updated = as_mdb_val(encoded.bytes);
  if (int rc = mdb_put(batch_, messages_dbi_, &key, &updated, 0); rc != 0) {
    JournalStatus failure = lmdb_failure(rc, message_operation("set finished: write", id));
    fail_batch(failure);
    return failure;
  }
  return {};
}

JournalStatus LmdbJournal::remove(MessageId id) {
  if (JournalStatus s = batch_usable("remove"); !s.ok()) return s;
  const auto key_bytes = encode_journal_key(id);
  MDB_val key = as_mdb_val({key_bytes.data(), key_bytes.size()});
  const int rc = mdb_del(batch_, messages_dbi_, &key, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    JournalStatus failure = lmdb_failure(rc, message_operation("remove", id));
    fail_batch(failure);
    return failure;
  }
  return {};
}

JournalStatus LmdbJournal::read_highest_id(MDB_txn* txn, MessageId& id) {
  id = 0;
  const std::string_view name(kJournalHighestIdKey);
  MDB_val key = as_mdb_val(name);
  MDB_val value{};
  const int rc = mdb_get(txn, meta_dbi_, &key, &value);
  if (rc == MDB_NOTFOUND) return {};
  if (rc != 0) return lmdb_failure(rc, "read the highest id");
  const DecodedJournalKey stored = decode_journal_key(as_view(value));
  if (!stored.ok()) return rejected("the stored highest id is malformed: " + stored.error);
  id = stored.id;
  return {};
}

JournalStatus LmdbJournal::commit_batch() {
  if (batch_ == nullptr) return rejected("commit batch: no batch is open");
  if (!batch_error_.ok()) {
    JournalStatus failure = batch_error_;
    abort_batch();
    return failure;
  }
  MessageId stored_highest = 0;
  if (JournalStatus s = read_highest_id(batch_, stored_highest);
      s.kind == JournalErrorKind::storage || s.kind == JournalErrorKind::map_full) {
    abort_batch();
    return s;
  }
  // A malformed stored value (rejected above) is simply overwritten by a good one.
  if (batch_highest_id_ > stored_highest) {
    const auto id_bytes = encode_journal_key(batch_highest_id_);
    const std::string_view name(kJournalHighestIdKey);
    MDB_val key = as_mdb_val(name);
    MDB_val value = as_mdb_val({id_bytes.data(), id_bytes.size()});
    if (int rc = mdb_put(batch_, meta_dbi_, &key, &value, 0); rc != 0) {
      JournalStatus failure = lmdb_failure(rc, "commit batch: store the highest id");
      abort_batch();
      return failure;
    }
  }
  MDB_txn* txn = std::exchange(batch_, nullptr);
  if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_failure(rc, "commit batch");
  if (options_.sync_interval > Duration{0}) ++unsynced_batches_;
  health_ = {};
  return {};
}

void LmdbJournal::abort_batch() {
  if (batch_ != nullptr) mdb_txn_abort(std::exchange(batch_, nullptr));
  batch_error_ = {};
  batch_highest_id_ = 0;
}

JournalStatus LmdbJournal::walk(const std::function<void(const JournalEntry&)>& visit) {
  LmdbTransaction read;
  MDB_txn* txn = batch_;
  if (txn != nullptr) {
    if (!batch_error_.ok()) return batch_error_;
  } else {
    if (int rc = read.begin(env_, MDB_RDONLY); rc != 0) return lmdb_failure(rc, "walk: begin");
    txn = read.get();
  }
  LmdbCursor cursor;
  if (int rc = cursor.open(txn, messages_dbi_); rc != 0) return lmdb_failure(rc, "walk: cursor");
  MDB_val key{};
  MDB_val value{};
  JournalEntry entry;
  for (int rc = cursor.get(key, value, MDB_FIRST); rc != MDB_NOTFOUND;
       rc = cursor.get(key, value, MDB_NEXT)) {
    if (rc != 0) return lmdb_failure(rc, "walk: next record");
    const DecodedJournalKey id = decode_journal_key(as_view(key));
    entry.id = id.id;
    if (!id.ok()) {
      entry.error = "journal " + options_.directory + ": " + id.error;
    } else {
      DecodedJournalRecord decoded = decode_journal_record(as_view(value));
      if (decoded.ok()) {
        entry.record = std::move(decoded.record);
        entry.error.clear();
      } else {
        entry.error = "journal " + options_.directory + ": message " + std::to_string(id.id) +
                      ": " + decoded.error;
      }
    }
    visit(entry);
  }
  return {};
}

HighestIdResult LmdbJournal::highest_id() {
  HighestIdResult result;
  LmdbTransaction read;
  MDB_txn* txn = batch_;
  if (txn != nullptr) {
    if (!batch_error_.ok()) {
      result.status = batch_error_;
      return result;
    }
  } else {
    if (int rc = read.begin(env_, MDB_RDONLY); rc != 0) {
      result.status = lmdb_failure(rc, "highest id: begin");
      return result;
    }
    txn = read.get();
  }
  MessageId stored = 0;
  result.status = read_highest_id(txn, stored);
  if (!result.ok()) return result;
  // Records written without the meta entry (by hand, or planted by a test) still count: the
  // last well-formed key is the highest id present.
  LmdbCursor cursor;
  if (int rc = cursor.open(txn, messages_dbi_); rc != 0) {
    result.status = lmdb_failure(rc, "highest id: cursor");
    return result;
  }
  MDB_val key{};
  MDB_val value{};
  MessageId present = 0;
  for (int rc = cursor.get(key, value, MDB_LAST); rc != MDB_NOTFOUND;
       rc = cursor.get(key, value, MDB_PREV)) {
    if (rc != 0) {
      result.status = lmdb_failure(rc, "highest id: read records");
      return result;
    }
    if (const DecodedJournalKey id = decode_journal_key(as_view(key)); id.ok()) {
      present = id.id;
      break;
    }
  }
  result.id = stored > present ? stored : present;
  return result;
}

JournalStatus LmdbJournal::sync_if_due(TimePoint now) {
  if (options_.sync_interval <= Duration{0}) return {};
  if (unsynced_batches_ == 0 || !flush_clock_started_) {
    // Nothing waits to be flushed (or this is the first call): the loss window starts now.
    last_flush_ = now;
    flush_clock_started_ = true;
    return {};
  }
  if (now - last_flush_ < options_.sync_interval) return {};
  if (int rc = mdb_env_sync(env_, 1); rc != 0) return lmdb_failure(rc, "sync");
  unsynced_batches_ = 0;
  last_flush_ = now;
  return {};
}

}  // namespace bulkq
