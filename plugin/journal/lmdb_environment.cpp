#include "journal/lmdb_environment.h"

#include <errno.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace bulkq {

void LmdbEnvironmentCloser::operator()(MDB_env* env) const {
  if (env != nullptr) mdb_env_close(env);
}

LmdbEnvironmentOpenResult open_lmdb_environment(std::string_view label,
                                                const LmdbEnvironmentOptions& options) {
  LmdbEnvironmentOpenResult result;
  const std::string& dir = options.directory;
  if (dir.empty()) {
    result.error = std::string(label) + ": no directory configured";
    return result;
  }
  const std::string prefix = std::string(label) + " " + dir + ": ";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    result.error = prefix + "cannot create the directory: " + std::strerror(errno);
    return result;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    result.error = prefix + "cannot stat: " + std::strerror(errno);
    return result;
  }
  if (!S_ISDIR(st.st_mode)) {
    result.error = prefix + "exists and is not a directory";
    return result;
  }

  auto failed = [&](const char* step, int rc) {
    result.env.reset();
    result.error = prefix + step + ": " + mdb_strerror(rc);
    return std::move(result);
  };
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) return failed("mdb_env_create", rc);
  result.env.reset(env);
  if (int rc = mdb_env_set_maxdbs(env, options.max_databases); rc != 0) {
    return failed("mdb_env_set_maxdbs", rc);
  }
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t page_size = page > 0 ? static_cast<std::size_t>(page) : 4096;
  const std::size_t map_size = (options.map_size + page_size - 1) / page_size * page_size;
  if (int rc = mdb_env_set_mapsize(env, map_size); rc != 0) {
    return failed("mdb_env_set_mapsize", rc);
  }
  const unsigned int flags = options.no_sync ? MDB_NOSYNC : 0U;
  if (int rc = mdb_env_open(env, dir.c_str(), flags, 0600); rc != 0) {
    return failed("mdb_env_open", rc);
  }
  int dead_readers = 0;
  if (int rc = mdb_reader_check(env, &dead_readers); rc != 0) {
    return failed("mdb_reader_check", rc);
  }
  return result;
}

}  // namespace bulkq
