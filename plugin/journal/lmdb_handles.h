// LMDB handles that clean up after themselves, and the MDB_val <-> bytes conversions: shared by
// every bulkq database (the journal, the DNS cache store). Header-only; include it only from the
// .cpp files that talk to LMDB.
#pragma once

#include <lmdb.h>

#include <string_view>
#include <utility>

namespace bulkq {

inline MDB_val as_mdb_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

inline std::string_view as_view(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

// A transaction aborted however the scope ends, unless committed.
class LmdbTransaction {
 public:
  LmdbTransaction() = default;
  LmdbTransaction(const LmdbTransaction&) = delete;
  LmdbTransaction& operator=(const LmdbTransaction&) = delete;
  ~LmdbTransaction() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  int begin(MDB_env* env, unsigned int flags) { return mdb_txn_begin(env, nullptr, flags, &txn_); }
  int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
  [[nodiscard]] MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor closed when the scope ends (before its transaction's).
class LmdbCursor {
 public:
  LmdbCursor() = default;
  LmdbCursor(const LmdbCursor&) = delete;
  LmdbCursor& operator=(const LmdbCursor&) = delete;
  ~LmdbCursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  int open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &cursor_); }
  int get(MDB_val& key, MDB_val& value, MDB_cursor_op op) {
    return mdb_cursor_get(cursor_, &key, &value, op);
  }
  int del() { return mdb_cursor_del(cursor_, 0); }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace bulkq
