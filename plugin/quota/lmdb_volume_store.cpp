#include "quota/lmdb_volume_store.h"

#include <lmdb.h>

#include <optional>

#include "journal/lmdb_handles.h"

namespace bulkq {
namespace {

// Longer than any key volume_period_key() makes; a bound, so a caller's garbage is refused.
constexpr std::size_t kMaxPeriodKeyLength = 32;

// Scopes are sender domains from MAIL FROM: show their bytes safely in a log line.
std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes.substr(0, 253)) {
    const auto b = static_cast<unsigned char>(c);
    out += (b < 0x20 || b > 0x7e) ? '?' : c;
  }
  if (bytes.size() > 253) out += "...";
  return out;
}

std::string period_key_error(std::string_view period_key) {
  if (period_key.empty()) return "empty period key";
  if (period_key.size() > kMaxPeriodKeyLength || period_key.find('\0') != std::string_view::npos) {
    return "not a period key: " + printable(period_key);
  }
  return {};
}

// The period part of a stored key, or nothing when the key is not in this store's layout.
std::optional<std::string_view> period_of(std::string_view key) {
  const std::size_t separator = key.find('\0');
  if (separator == std::string_view::npos || separator == 0) return std::nullopt;
  return key.substr(0, separator);
}

std::string encode_counts(const VolumeCounts& counts) {
  std::string bytes(kVolumeRecordSize, '\0');
  bytes[0] = static_cast<char>(kVolumeRecordVersion);
  for (std::size_t i = 0; i < 8; ++i) {
    bytes[1 + i] = static_cast<char>((counts.messages >> (8 * i)) & 0xffU);
    bytes[9 + i] = static_cast<char>((counts.recipients >> (8 * i)) & 0xffU);
  }
  return bytes;
}

std::uint64_t read_le64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  }
  return value;
}

// Empty on success, else why the value is not a volume record.
std::string decode_counts(std::string_view bytes, VolumeCounts& counts) {
  if (bytes.size() != kVolumeRecordSize) {
    return "value of " + std::to_string(bytes.size()) + " bytes, expected " +
           std::to_string(kVolumeRecordSize);
  }
  if (static_cast<unsigned char>(bytes[0]) != kVolumeRecordVersion) {
    return "unknown record version " + std::to_string(static_cast<unsigned char>(bytes[0]));
  }
  counts.messages = read_le64(bytes.substr(1, 8));
  counts.recipients = read_le64(bytes.substr(9, 8));
  return {};
}

}  // namespace

LmdbVolumeStoreOpenResult LmdbVolumeStore::open(const LmdbVolumeStoreOptions& options) {
  LmdbVolumeStoreOpenResult result;
  result.store.reset(new LmdbVolumeStore(options));  // private constructor: no make_unique
  result.error = result.store->open_environment();
  if (!result.ok()) result.store.reset();
  return result;
}

std::string LmdbVolumeStore::open_environment() {
  LmdbEnvironmentOptions environment;
  environment.directory = options_.directory;
  environment.map_size = options_.map_size;
  environment.max_databases = 1;
  // Synced commits (no MDB_NOSYNC): a licence figure should survive a power cut, and one commit
  // a second is cheap.
  environment.no_sync = false;
  LmdbEnvironmentOpenResult opened = open_lmdb_environment("volume counter", environment);
  if (!opened.ok()) return opened.error;
  env_ = std::move(opened.env);

  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), 0); rc != 0) {
    return failure("begin the transaction that opens the database", rc);
  }
  MDB_dbi dbi = 0;
  if (int rc = mdb_dbi_open(txn.get(), kVolumeCountsDatabase, MDB_CREATE, &dbi); rc != 0) {
    return failure("open the database", rc);
  }
  if (int rc = txn.commit(); rc != 0) return failure("commit the database", rc);
  dbi_ = dbi;
  return {};
}

std::string LmdbVolumeStore::failure(std::string_view operation, int rc) const {
  return refusal(operation, mdb_strerror(rc));
}

std::string LmdbVolumeStore::refusal(std::string_view operation, std::string_view why) const {
  return "volume counter " + options_.directory + ": " + std::string(operation) + ": " +
         std::string(why);
}

VolumeLoadResult LmdbVolumeStore::load(std::string_view period_key) {
  VolumeLoadResult result;
  if (std::string why = period_key_error(period_key); !why.empty()) {
    result.error = refusal("load", why);
    return result;
  }
  const std::string operation = "load " + std::string(period_key);
  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), MDB_RDONLY); rc != 0) {
    result.error = failure(operation + ": begin", rc);
    return result;
  }
  LmdbCursor cursor;
  if (int rc = cursor.open(txn.get(), dbi_); rc != 0) {
    result.error = failure(operation + ": cursor", rc);
    return result;
  }

  std::string prefix(period_key);
  prefix += '\0';
  MDB_val key = as_mdb_val(prefix);
  MDB_val value{};
  int rc = cursor.get(key, value, MDB_SET_RANGE);
  for (; rc == 0; rc = cursor.get(key, value, MDB_NEXT)) {
    const std::string_view stored_key = as_view(key);
    if (!stored_key.starts_with(prefix)) break;  // past this period's range
    const std::string_view scope = stored_key.substr(prefix.size());

    VolumeCounts counts;
    std::string why = decode_counts(as_view(value), counts);
    if (why.empty()) {
      if (scope.size() == 1 && scope[0] == kVolumeGlobalScope) {
        result.counts.global = counts;
        continue;
      }
      if (!scope.empty() && scope[0] == kVolumeDomainScope) {
        result.counts.domains[std::string(scope.substr(1))] = counts;
        continue;
      }
      why = "unknown scope (neither '*' nor '@domain')";
    }
    if (result.skipped++ == 0) {
      result.first_skip = "volume counter " + options_.directory + ": period " +
                          std::string(period_key) + ", scope " + printable(scope) + ": " + why;
    }
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    result.error = failure(operation + ": next record", rc);  // keep what was read
  }
  return result;
}

std::string LmdbVolumeStore::prune(MDB_txn* txn, std::string_view keep) const {
  LmdbCursor cursor;
  if (int rc = cursor.open(txn, dbi_); rc != 0) return failure("prune: cursor", rc);
  MDB_val key{};
  MDB_val value{};

  // The latest period before `keep`. Keys sort by period ('\0' ends the period part and sorts
  // before every other byte), so the first period at or after `keep` ends the search.
  std::string previous;
  int rc = 0;
  for (rc = cursor.get(key, value, MDB_FIRST); rc == 0; rc = cursor.get(key, value, MDB_NEXT)) {
    const std::optional<std::string_view> period = period_of(as_view(key));
    if (!period) continue;
    if (*period >= keep) break;
    if (*period != previous) previous = *period;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return failure("prune: next record", rc);

  const std::string_view oldest_kept = previous.empty() ? keep : std::string_view(previous);
  for (rc = cursor.get(key, value, MDB_FIRST); rc == 0; rc = cursor.get(key, value, MDB_NEXT)) {
    const std::optional<std::string_view> period = period_of(as_view(key));
    if (period && *period >= oldest_kept) continue;
    // A period too old to matter, or a key this store never writes.
    if (int del = cursor.del(); del != 0) return failure("prune: delete", del);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return failure("prune: next record", rc);
  return {};
}

std::string LmdbVolumeStore::save(std::string_view period_key, const VolumePeriodCounts& counts) {
  if (std::string why = period_key_error(period_key); !why.empty()) return refusal("save", why);
  const std::string operation = "save " + std::string(period_key);
  const auto max_key_size = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_.get()));

  LmdbTransaction txn;
  if (int rc = txn.begin(env_.get(), 0); rc != 0) return failure(operation + ": begin", rc);
  const bool pruning = pruned_for_ != period_key;
  if (pruning) {
    if (std::string e = prune(txn.get(), period_key); !e.empty()) return e;
  }

  std::string key(period_key);
  key += '\0';
  const std::size_t prefix_size = key.size();
  auto put = [&](const VolumeCounts& scope_counts) {
    const std::string bytes = encode_counts(scope_counts);
    MDB_val k = as_mdb_val(key);
    MDB_val v = as_mdb_val(bytes);
    // MDB_MAP_FULL lands here (or at commit): the error names it, and nothing of this save is
    // kept, so the counter writes the same figures again next time.
    return mdb_put(txn.get(), dbi_, &k, &v, 0);
  };

  key += kVolumeGlobalScope;
  if (int rc = put(counts.global); rc != 0) return failure(operation + ": global", rc);
  std::string too_long;
  for (const auto& [domain, domain_counts] : counts.domains) {
    key.resize(prefix_size);
    key += kVolumeDomainScope;
    key += domain;
    if (key.size() > max_key_size) {
      // Never from VolumeCounter (it cuts domains to 253 bytes); refused alone, so one bad name
      // cannot stop every other figure from being saved.
      if (too_long.empty()) too_long = printable(domain);
      continue;
    }
    if (int rc = put(domain_counts); rc != 0) {
      return failure(operation + ": sender domain " + printable(domain), rc);
    }
  }
  if (int rc = txn.commit(); rc != 0) return failure(operation + ": commit", rc);
  if (pruning) pruned_for_ = std::string(period_key);
  if (!too_long.empty()) {
    return refusal(operation, "sender domain too long for a key, not saved: " + too_long);
  }
  return {};
}

}  // namespace bulkq
