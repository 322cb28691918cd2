// LmdbEnvironment: opening one LMDB environment in a directory of its own, the way every bulkq
// database wants it — the journal (lmdb_journal.h) and the offline DNS cache
// (dns/dns_cache_store.h).
//
// What open_lmdb_environment() promises:
//   - the directory is created with mode 0700 when missing (its parent must exist), and must be a
//     directory; LMDB's data.mdb and lock.mdb are created with mode 0600 (less the umask);
//   - the map size is rounded up to whole pages, as LMDB wants it;
//   - reader slots left by dead processes are cleared: a bulkqd killed inside a read transaction
//     would otherwise keep LMDB from reusing pages until the file hit MDB_MAP_FULL;
//   - errors are values, each naming the database, the directory, the step and LMDB's or the
//     system's reason: "journal /var/lib/bulkq/journal: mdb_env_open: Permission denied".
// The databases inside (mdb_dbi_open) are the caller's business.
//
// Thread: the environment belongs to the thread that opened it. LMDB ties transactions to their
// thread (bulkq does not use MDB_NOTLS), so that thread makes every later call on it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct MDB_env;

namespace bulkq {

struct LmdbEnvironmentOptions {
  std::string directory;           // created with mode 0700 if missing
  std::size_t map_size = 0;        // the most the database may grow to; rounded up to whole pages
  unsigned int max_databases = 1;  // named databases the caller will open
  bool no_sync = false;            // MDB_NOSYNC: commits are not flushed; the caller syncs
};

// Closes the environment (mdb_env_close); does not sync it.
struct LmdbEnvironmentCloser {
  void operator()(MDB_env* env) const;
};
using LmdbEnvironmentPtr = std::unique_ptr<MDB_env, LmdbEnvironmentCloser>;

struct LmdbEnvironmentOpenResult {
  LmdbEnvironmentPtr env;  // set when ok()
  std::string error;       // set when !ok(); nothing is left open
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// `label` names the database in errors ("journal", "DNS cache").
[[nodiscard]] LmdbEnvironmentOpenResult open_lmdb_environment(
    std::string_view label, const LmdbEnvironmentOptions& options);

}  // namespace bulkq
