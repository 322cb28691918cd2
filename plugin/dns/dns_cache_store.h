// DnsCacheStore: where the offline DNS cache keeps its records across restarts, so a restarted
// bulkqd starts with a warm cache (DESIGN §3.5). LmdbDnsCacheStore keeps them in LMDB.
//
// The seam is small on purpose: DnsService loads every record once at start-up, then writes each
// resolution it stores (put), drops what the cache purges (remove), and flushes on every
// refresher tick. The store is a copy of the cache, never the other way round: if it fails (disk
// full, MDB_MAP_FULL) the in-memory cache keeps serving and only the next start is colder.
//
// Errors are values (an empty string is success); nothing throws (allocation failure aside).
// A record that fails to decode at load is skipped, counted and removed from the store (it is a
// cache: a damaged record is worth nothing, and the domain is resolved again when next used).
//
// LMDB layout: the environment is a directory of its own (mode 0700; data.mdb and lock.mdb mode
// 0600) with one named database "dns_cache": key = the canonical domain, value = the
// DnsCacheRecord encoding (dns_cache_record.h).
//
// Durability: the environment runs with MDB_NOSYNC, and flush() calls mdb_env_sync. Every put is
// in the file when it returns, so a killed bulkqd loses nothing; an operating-system crash or a
// power loss loses the answers stored since the last flush. That is harmless — the cache just
// starts colder and those domains are asked for again — and it spares the event loop an fsync per
// DNS answer. LMDB keeps the database consistent in that case (no MDB_WRITEMAP).
//
// Thread: the event-loop thread that owns DnsService makes every call, from open() to
// destruction; the environment and its transactions are that thread's. Not thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "dns/dns_cache_record.h"
#include "journal/lmdb_environment.h"

namespace bulkq {

inline constexpr const char* kDnsCacheDatabase = "dns_cache";

// What load() read: for the start-up log line.
struct DnsCacheLoadReport {
  std::size_t loaded = 0;   // records handed to the visitor
  std::size_t skipped = 0;  // records that did not decode (removed from the store)
  std::string first_skip;   // why the first skipped record was skipped
  std::string error;        // the store could not be read at all (or only in part)
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class DnsCacheStore {
 public:
  using Visit = std::function<void(std::string_view domain, DnsCacheRecord record)>;

  virtual ~DnsCacheStore() = default;

  // Calls `visit` for every record that decodes, in key order; skips (and removes) the others.
  [[nodiscard]] virtual DnsCacheLoadReport load(const Visit& visit) = 0;
  // Writes (or replaces) the record of `domain`. Empty on success.
  [[nodiscard]] virtual std::string put(std::string_view domain, const DnsCacheRecord& record) = 0;
  // Removes the record of `domain`; removing an absent record succeeds. Empty on success.
  [[nodiscard]] virtual std::string remove(std::string_view domain) = 0;
  // Makes what was written so far survive an operating-system crash. Empty on success.
  [[nodiscard]] virtual std::string flush() = 0;
};

struct LmdbDnsCacheStoreOptions {
  std::string directory;                         // created with mode 0700 if missing
  std::size_t map_size = std::size_t{64} << 20;  // 64 MiB: some 100 000 domains of 600 bytes
};

class LmdbDnsCacheStore;

struct LmdbDnsCacheStoreOpenResult {
  std::unique_ptr<LmdbDnsCacheStore> store;  // set when ok()
  std::string error;                         // set when !ok(): the directory, the step, the cause
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class LmdbDnsCacheStore final : public DnsCacheStore {
 public:
  // Opens the environment in options.directory, creating it and the database when missing.
  [[nodiscard]] static LmdbDnsCacheStoreOpenResult open(const LmdbDnsCacheStoreOptions& options);

  ~LmdbDnsCacheStore() override;  // flushes, then closes
  LmdbDnsCacheStore(const LmdbDnsCacheStore&) = delete;
  LmdbDnsCacheStore& operator=(const LmdbDnsCacheStore&) = delete;

  // DnsCacheStore
  [[nodiscard]] DnsCacheLoadReport load(const Visit& visit) override;
  [[nodiscard]] std::string put(std::string_view domain, const DnsCacheRecord& record) override;
  [[nodiscard]] std::string remove(std::string_view domain) override;
  [[nodiscard]] std::string flush() override;

  [[nodiscard]] const LmdbDnsCacheStoreOptions& options() const { return options_; }

 private:
  explicit LmdbDnsCacheStore(LmdbDnsCacheStoreOptions options) : options_(std::move(options)) {}

  [[nodiscard]] std::string open_environment();
  [[nodiscard]] std::string failure(std::string_view operation, int rc) const;

  LmdbDnsCacheStoreOptions options_;
  LmdbEnvironmentPtr env_;
  unsigned int dbi_ = 0;  // MDB_dbi
  bool unflushed_ = false;
};

}  // namespace bulkq
