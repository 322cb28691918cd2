// FakeJournal: an in-memory Journal for unit tests of the engine, which can be told to fail.
//
// Same contract as LmdbJournal (journal.h): all-or-nothing batches, walk in id order, a highest
// id that survives removal, storage failures that fail the open batch. Records are kept in
// their encoded form so the codec runs as it does for real, and plant_raw() can store any bytes
// to test how the engine handles a corrupt record. Single-threaded, like the real one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "journal/journal.h"

namespace bulkq::testing {

class FakeJournal final : public Journal {
 public:
  // From now on every write operation (begin_batch, put, set_finished, remove, commit_batch)
  // fails with `kind` (storage or map_full) and `error`, until heal().
  void fail_writes(JournalErrorKind kind = JournalErrorKind::storage,
                   std::string error = "fake journal: told to fail") {
    failure_ = JournalStatus{kind, std::move(error)};
  }
  void heal() { failure_.reset(); }

  // Stores `bytes` as message `id`'s record, bypassing the codec and any batch.
  void plant_raw(MessageId id, std::string bytes) { committed_[id] = std::move(bytes); }

  [[nodiscard]] bool batch_open() const { return batch_.has_value(); }
  [[nodiscard]] int commits() const { return commits_; }
  [[nodiscard]] std::size_t size() const { return committed_.size(); }
  [[nodiscard]] const std::map<MessageId, std::string>& committed() const { return committed_; }

  // Journal
  [[nodiscard]] JournalStatus begin_batch() override {
    if (batch_) return rejected("begin batch: a batch is already open");
    if (failure_) return fail(*failure_);
    batch_ = committed_;
    batch_error_ = {};
    batch_highest_ = highest_;
    return {};
  }

  [[nodiscard]] JournalStatus put(MessageId id, const JournalRecord& record) override {
    if (JournalStatus s = usable("put"); !s.ok()) return s;
    EncodedJournalRecord encoded = encode_journal_record(record);
    if (!encoded.ok()) return rejected("put message " + std::to_string(id) + ": " + encoded.error);
    (*batch_)[id] = std::move(encoded.bytes);
    if (id > batch_highest_) batch_highest_ = id;
    return {};
  }

  [[nodiscard]] JournalStatus set_finished(MessageId id,
                                           std::span<const RecipientIndex> recipients) override {
    if (JournalStatus s = usable("set finished"); !s.ok()) return s;
    const std::string what = "set finished message " + std::to_string(id);
    auto it = batch_->find(id);
    if (it == batch_->end()) return rejected(what + ": the message has no record");
    DecodedJournalRecord decoded = decode_journal_record(it->second);
    if (!decoded.ok()) return rejected(what + ": stored " + decoded.error);
    for (RecipientIndex r : recipients) {
      if (r >= decoded.record.recipient_count) {
        return rejected(what + ": recipient " + std::to_string(r) + " is out of range");
      }
    }
    for (RecipientIndex r : recipients)
      decoded.record.set_finished(r);
    it->second = encode_journal_record(decoded.record).bytes;
    return {};
  }

  [[nodiscard]] JournalStatus remove(MessageId id) override {
    if (JournalStatus s = usable("remove"); !s.ok()) return s;
    batch_->erase(id);
    return {};
  }

  [[nodiscard]] JournalStatus commit_batch() override {
    if (!batch_) return rejected("commit batch: no batch is open");
    if (!batch_error_.ok()) {
      JournalStatus failure = batch_error_;
      abort_batch();
      return failure;
    }
    if (failure_) {
      abort_batch();
      return fail(*failure_);
    }
    committed_ = std::move(*batch_);
    highest_ = batch_highest_;
    batch_.reset();
    health_ = {};
    ++commits_;
    return {};
  }

  void abort_batch() override {
    batch_.reset();
    batch_error_ = {};
  }

  [[nodiscard]] JournalStatus walk(const std::function<void(const JournalEntry&)>& visit) override {
    if (batch_ && !batch_error_.ok()) return batch_error_;
    const auto& records = batch_ ? *batch_ : committed_;
    for (const auto& [id, bytes] : records) {
      JournalEntry entry;
      entry.id = id;
      DecodedJournalRecord decoded = decode_journal_record(bytes);
      if (decoded.ok()) {
        entry.record = std::move(decoded.record);
      } else {
        entry.error = "fake journal: message " + std::to_string(id) + ": " + decoded.error;
      }
      visit(entry);
    }
    return {};
  }

  [[nodiscard]] HighestIdResult highest_id() override {
    HighestIdResult result;
    result.id = highest_;
    if (!committed_.empty() && committed_.rbegin()->first > result.id) {
      result.id = committed_.rbegin()->first;
    }
    return result;
  }

  [[nodiscard]] JournalStatus sync_if_due(TimePoint) override { return {}; }
  [[nodiscard]] JournalStatus health() const override { return health_; }

 private:
  static JournalStatus rejected(std::string what) {
    return JournalStatus{JournalErrorKind::rejected, "fake journal: " + std::move(what)};
  }
  JournalStatus fail(const JournalStatus& status) {
    health_ = status;
    return status;
  }
  JournalStatus usable(const char* operation) {
    if (!batch_) return rejected(std::string(operation) + ": no batch is open");
    if (!batch_error_.ok()) return batch_error_;
    if (failure_) {
      batch_error_ = fail(*failure_);
      return batch_error_;
    }
    return {};
  }

  std::map<MessageId, std::string> committed_;
  std::optional<std::map<MessageId, std::string>> batch_;  // a copy: all-or-nothing for free
  JournalStatus batch_error_;
  MessageId highest_ = 0;
  MessageId batch_highest_ = 0;
  std::optional<JournalStatus> failure_;
  JournalStatus health_;
  int commits_ = 0;
};

}  // namespace bulkq::testing
