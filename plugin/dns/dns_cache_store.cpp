#include "dns/dns_cache_store.h"

#include <lmdb.h>

#include <utility>
#include <vector>

#include "journal/lmdb_handles.h"

namespace bulkq {
namespace {

// Keys are domains, but the bytes on disk may be anything: show them safely in a log line.
std::string printable_key(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 253)) {
    const auto b = static_cast<unsigned char>(c);
    out += (b < 0x20 || b > 0x7e) ? '?' : c;
  }
  return out;
}

}  // namespace

LmdbDnsCacheStoreOpenResult LmdbDnsCacheStore::open(const LmdbDnsCacheStoreOptions& options) {
  LmdbDnsCacheStoreOpenResult result;
  result.store.reset(new LmdbDnsCacheStore(options));  // private constructor: no make_unique
  result.error = result.store->open_environment();
  if (!result.ok()) result.store.reset();
  return result;
}

std::string LmdbDnsCacheStore::open_environment() {
  LmdbEnvironmentOptions environment;
  environment.directory = options_.directory;
  environment.map_size = options_.map_size;
  environment.max_databases = 1;
  environment.no_sync = true;  // see the header: a lost answer only makes the cache colder
  LmdbEnvironmentOpenResult opened = open_lmdb_environment("DNS cache", environment);
  if (!opened.ok()) return opened.error;
  env_ = std::move(opened.env);

  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), 0); rc != 0) {
    return failure("begin the transaction that opens the database", rc);
  }
  MDB_dbi dbi = 0;
  if (int rc = mdb_dbi_open(txn.get(), kDnsCacheDatabase, MDB_CREATE, &dbi); rc != 0) {
    return failure("open the database", rc);
  }
  if (int rc = txn.commit(); rc != 0) return failure("commit the database", rc);
  dbi_ = dbi;
  return {};
}

LmdbDnsCacheStore::~LmdbDnsCacheStore() {
  // Nobody is left to tell about a failed flush; the pages are in the page cache anyway.
  if (env_ != nullptr && unflushed_) (void)mdb_env_sync(env_.get(), 1);
}

std::string LmdbDnsCacheStore::failure(std::string_view operation, int rc) const {
  return "DNS cache " + options_.directory + ": " + std::string(operation) + ": " +
         mdb_strerror(rc);
}

DnsCacheLoadReport LmdbDnsCacheStore::load(const Visit& visit) {
  DnsCacheLoadReport report;
  std::vector<std::pair<std::string, DnsCacheRecord>> good;
  {
    // A write transaction, so that damaged records are removed in the same pass. It ends before
    // the visitor runs: the visitor may call put() or remove(), and LMDB allows one writer.
    LmdbTransaction txn;
    if (int rc = txn.begin(env_.get(), 0); rc != 0) {
      report.error = failure("load: begin", rc);
      return report;
    }
    {
      LmdbCursor cursor;
      if (int rc = cursor.open(txn.get(), dbi_); rc != 0) {
        report.error = failure("load: cursor", rc);
        return report;
      }
      MDB_val key{};
      MDB_val value{};
      for (int rc = cursor.get(key, value, MDB_FIRST); rc != MDB_NOTFOUND;
           rc = cursor.get(key, value, MDB_NEXT)) {
        if (rc != 0) {
          report.error = failure("load: next record", rc);
          break;  // keep what was read: a partly warm cache beats a cold one
        }
        const std::string_view domain = as_view(key);
        std::string why = check_dns_cache_key(domain);
        DecodedDnsCacheRecord decoded;
        if (why.empty()) {
          decoded = decode_dns_cache_record(as_view(value));
          why = decoded.error;
        }
        if (why.empty()) {
          good.emplace_back(std::string(domain), std::move(decoded.record));
          continue;
        }
        if (report.skipped++ == 0) {
          report.first_skip =
              "DNS cache " + options_.directory + ": domain " + printable_key(domain) + ": " + why;
        }
        if (int del = cursor.del(); del != 0 && report.error.empty()) {
          report.error = failure("load: remove a damaged record", del);
        }
      }
    }  // the cursor closes before the transaction commits
    if (report.skipped > 0) {
      if (int rc = txn.commit(); rc != 0 && report.error.empty()) {
        report.error = failure("load: commit the removal of damaged records", rc);
      }
      unflushed_ = true;
    }
  }
  for (auto& [domain, record] : good) {
    visit(domain, std::move(record));
    ++report.loaded;
  }
  return report;
}

std::string LmdbDnsCacheStore::put(std::string_view domain, const DnsCacheRecord& record) {
  if (std::string e = check_dns_cache_key(domain); !e.empty()) {
    return "DNS cache " + options_.directory + ": put: " + e;
  }
  const EncodedDnsCacheRecord encoded = encode_dns_cache_record(record);
  if (!encoded.ok()) {
    return "DNS cache " + options_.directory + ": put " + std::string(domain) + ": " +
           encoded.error;
  }
  const std::string operation = "put " + std::string(domain);
  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), 0); rc != 0) return failure(operation + ": begin", rc);
  MDB_val key = as_mdb_val(domain);
  MDB_val value = as_mdb_val(encoded.bytes);
  // MDB_MAP_FULL lands here (or at commit): the error names it, the cache keeps working.
  if (int rc = mdb_put(txn.get(), dbi_, &key, &value, 0); rc != 0) return failure(operation, rc);
  if (int rc = txn.commit(); rc != 0) return failure(operation + ": commit", rc);
  unflushed_ = true;
  return {};
}

std::string LmdbDnsCacheStore::remove(std::string_view domain) {
  if (domain.empty() || domain.size() > 511) return {};  // never a key LMDB could hold
  const std::string operation = "remove " + std::string(domain);
  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), 0); rc != 0) return failure(operation + ": begin", rc);
  MDB_val key = as_mdb_val(domain);
  const int rc = mdb_del(txn.get(), dbi_, &key, nullptr);
  if (rc == MDB_NOTFOUND) return {};
  if (rc != 0) return failure(operation, rc);
  if (int commit = txn.commit(); commit != 0) return failure(operation + ": commit", commit);
  unflushed_ = true;
  return {};
}

std::string LmdbDnsCacheStore::flush() {
  if (!unflushed_) return {};
  if (int rc = mdb_env_sync(env_.get(), 1); rc != 0) return failure("flush", rc);
  unflushed_ = false;
  return {};
}

}  // namespace bulkq
