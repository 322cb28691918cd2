// LmdbVolumeStore: the volume counter's figures (volume_store.h) in an LMDB environment of their
// own, so a restarted bulkqd continues the period it was counting.
//
// LMDB layout: the environment is a directory of its own (mode 0700; data.mdb and lock.mdb mode
// 0600) with one named database "volume_counts":
//   key   = period key (volume_period.h) + '\0' + scope, where scope is "*" for the global figure
//           and "@" + the sender domain for one domain ("@" alone is the null sender). The
//           prefixes keep the two apart whatever bytes a sender domain holds.
//   value = 17 bytes: version (1), then messages and recipients as little-endian uint64.
// Keys of one period are adjacent and periods sort in time order, so load() reads one range and
// pruning walks the file once.
//
// Pruning: the first save() of each period key this process sees removes every period older than
// the latest one before it, and any key that is not in this layout. The file therefore holds the
// current period and the one before it (plus, after a clock set back, the later ones, which fall
// behind and go once the clock catches up): it never grows without bound.
//
// Decoding is defensive: a value that is not 17 bytes of version 1, or a scope that is neither
// "*" nor "@…", is skipped and reported in the load result, never trusted and never a crash; the
// next save of that scope replaces it.
//
// Durability: every save() is one write transaction, committed with LMDB's default sync, so what
// save() reported written survives a crash of bulkqd or of the operating system. Saves come once
// per flush tick (about a second) from one thread, so the fsync costs nothing a milter waits on.
//
// Thread: the thread that opened the store makes every call, from open() to destruction (LMDB
// ties transactions to their thread). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "journal/lmdb_environment.h"
#include "quota/volume_store.h"

struct MDB_txn;

namespace bulkq {

inline constexpr const char* kVolumeCountsDatabase = "volume_counts";
inline constexpr std::uint8_t kVolumeRecordVersion = 1;
inline constexpr std::size_t kVolumeRecordSize = 17;  // version + two uint64
inline constexpr char kVolumeGlobalScope = '*';
inline constexpr char kVolumeDomainScope = '@';

struct LmdbVolumeStoreOptions {
  std::string directory;  // created with mode 0700 if missing
  // 64 MiB (a sparse file: only what is written takes disk): two periods of the counter's cap of
  // 100 000 sender domains take some 20 MiB, the rest is room for LMDB's copy-on-write pages.
  std::size_t map_size = std::size_t{64} << 20;
};

class LmdbVolumeStore;

struct LmdbVolumeStoreOpenResult {
  std::unique_ptr<LmdbVolumeStore> store;  // set when ok()
  std::string error;                       // set when !ok(): the directory, the step, the cause
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class LmdbVolumeStore final : public VolumeStore {
 public:
  // Opens the environment in options.directory, creating it and the database when missing.
  [[nodiscard]] static LmdbVolumeStoreOpenResult open(const LmdbVolumeStoreOptions& options);

  ~LmdbVolumeStore() override = default;
  LmdbVolumeStore(const LmdbVolumeStore&) = delete;
  LmdbVolumeStore& operator=(const LmdbVolumeStore&) = delete;

  // VolumeStore
  [[nodiscard]] VolumeLoadResult load(std::string_view period_key) override;
  [[nodiscard]] std::string save(std::string_view period_key,
                                 const VolumePeriodCounts& counts) override;

  [[nodiscard]] const LmdbVolumeStoreOptions& options() const { return options_; }

 private:
  explicit LmdbVolumeStore(LmdbVolumeStoreOptions options) : options_(std::move(options)) {}

  [[nodiscard]] std::string open_environment();
  [[nodiscard]] std::string failure(std::string_view operation, int rc) const;
  [[nodiscard]] std::string refusal(std::string_view operation, std::string_view why) const;
  // Inside save()'s transaction: removes the periods before the latest one older than `keep`.
  [[nodiscard]] std::string prune(MDB_txn* txn, std::string_view keep) const;

  LmdbVolumeStoreOptions options_;
  LmdbEnvironmentPtr env_;
  unsigned int dbi_ = 0;    // MDB_dbi
  std::string pruned_for_;  // the period key the last pruning kept
};

}  // namespace bulkq
