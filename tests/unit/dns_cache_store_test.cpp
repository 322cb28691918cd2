// LmdbDnsCacheStore against a real LMDB environment in a fresh temporary directory per test:
// round trip across a reopen, damaged records skipped (and removed) at load, MDB_MAP_FULL
// reported as an error value, the directory and file modes.
#include "dns/dns_cache_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::TempDir;

namespace {

const TimePoint kT0{Duration{1'800'000'000'000}};

DnsCacheRecord route_record(std::uint8_t last_octet) {
  DnsCacheRecord rec;
  rec.status = RouteStatus::route;
  rec.stored_at = kT0;
  rec.route_expires = kT0 + 3600s;
  rec.hosts.push_back(
      {"mx.example.test", 10, false, kT0 + 300s, {IpAddress::v4({192, 0, 2, last_octet})}});
  return rec;
}

DnsCacheRecord failure_record() {
  DnsCacheRecord rec;
  rec.status = RouteStatus::permanent_failure;
  rec.reason = "domain does not exist (NXDOMAIN)";
  rec.stored_at = kT0;
  rec.route_expires = kT0 + 600s;
  return rec;
}

std::unique_ptr<LmdbDnsCacheStore> open_store(const std::string& dir,
                                              std::size_t map_size = std::size_t{1} << 20) {
  LmdbDnsCacheStoreOptions options;
  options.directory = dir;
  options.map_size = map_size;
  LmdbDnsCacheStoreOpenResult opened = LmdbDnsCacheStore::open(options);
  INFO(opened.error);
  REQUIRE(opened.ok());
  return std::move(opened.store);
}

std::map<std::string, DnsCacheRecord> load_all(DnsCacheStore& store, DnsCacheLoadReport* out) {
  std::map<std::string, DnsCacheRecord> loaded;
  DnsCacheLoadReport report = store.load([&](std::string_view domain, DnsCacheRecord record) {
    loaded.emplace(std::string(domain), std::move(record));
  });
  INFO(report.error);
  REQUIRE(report.ok());
  CHECK(report.loaded == loaded.size());
  if (out != nullptr) *out = report;
  return loaded;
}

// Writes raw bytes with the LMDB C API, as a damaged disk or an older bulkq would.
void plant_raw(const std::string& dir, std::string_view key_bytes, std::string_view value_bytes) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 1) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, kDnsCacheDatabase, 0, &dbi) == 0);
  MDB_val key{key_bytes.size(), const_cast<char*>(key_bytes.data())};
  MDB_val value{value_bytes.size(), const_cast<char*>(value_bytes.data())};
  REQUIRE(mdb_put(txn, dbi, &key, &value, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

}  // namespace

TEST_CASE("DNS cache records survive a reopen", "[dns][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/dns";
  {
    auto store = open_store(dir);
    CHECK(store->put("example.test", route_record(1)).empty());
    CHECK(store->put("gone.test", failure_record()).empty());
    CHECK(store->put("old.test", route_record(3)).empty());
    CHECK(store->put("example.test", route_record(2)).empty());  // replaces
    CHECK(store->remove("old.test").empty());
    CHECK(store->remove("never-stored.test").empty());
    CHECK(store->flush().empty());
  }
  auto store = open_store(dir);
  DnsCacheLoadReport report;
  const auto loaded = load_all(*store, &report);
  CHECK(report.skipped == 0);
  REQUIRE(loaded.size() == 2);
  CHECK(loaded.at("example.test") == route_record(2));
  CHECK(loaded.at("gone.test") == failure_record());

  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/data.mdb").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
}

TEST_CASE("a damaged DNS cache record is skipped, reported and removed at load", "[dns][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/dns";
  {
    auto store = open_store(dir);
    REQUIRE(store->put("a.test", route_record(1)).empty());
    REQUIRE(store->put("c.test", route_record(3)).empty());
  }
  plant_raw(dir, "b.test", std::string("\x07garbage", 8));  // a future format version
  plant_raw(dir, "d.test", std::string("\x01", 1));         // cut short
  plant_raw(dir, "BAD KEY", "");                            // not a domain key

  auto store = open_store(dir);
  DnsCacheLoadReport report;
  const auto loaded = load_all(*store, &report);
  CHECK(loaded.size() == 2);
  CHECK(loaded.count("a.test") == 1);
  CHECK(loaded.count("c.test") == 1);
  CHECK(report.skipped == 3);
  // Keys load in byte order, so "BAD KEY" is the first.
  CHECK_THAT(report.first_skip, Catch::Contains("BAD KEY") && Catch::Contains(dir));

  DnsCacheLoadReport again;
  CHECK(load_all(*store, &again).size() == 2);
  CHECK(again.skipped == 0);  // removed by the first load
}

TEST_CASE("a full LMDB map is an error value; what was stored stays readable", "[dns][lmdb]") {
  TempDir temp;
  auto store = open_store(temp.path() + "/dns", 64 * 1024);
  DnsCacheRecord big = route_record(1);
  big.hosts.front().addresses.assign(kMaxCachedAddressesPerHost, IpAddress::v4({192, 0, 2, 9}));
  std::string error;
  int stored = 0;
  for (; stored < 10'000 && error.empty(); ++stored)
    error = store->put("d" + std::to_string(stored) + ".example.test", big);
  REQUIRE_FALSE(error.empty());
  CHECK_THAT(error, Catch::Contains("MDB_MAP_FULL") && Catch::Contains(temp.path()));
  // Everything stored before the failure is still there and readable.
  CHECK(load_all(*store, nullptr).size() == static_cast<std::size_t>(stored - 1));
}

TEST_CASE("opening a DNS cache store reports what is wrong", "[dns][lmdb]") {
  TempDir temp;
  LmdbDnsCacheStoreOptions options;
  SECTION("no directory") {
    const LmdbDnsCacheStoreOpenResult opened = LmdbDnsCacheStore::open(options);
    CHECK_FALSE(opened.ok());
    CHECK(opened.store == nullptr);
    CHECK_THAT(opened.error, Catch::Contains("DNS cache: no directory configured"));
  }
  SECTION("a missing parent") {
    options.directory = temp.path() + "/missing/dns";
    const LmdbDnsCacheStoreOpenResult opened = LmdbDnsCacheStore::open(options);
    CHECK_THAT(opened.error, Catch::Contains("cannot create the directory"));
  }
  SECTION("a file in the way") {
    options.directory = temp.write("file", "x");
    const LmdbDnsCacheStoreOpenResult opened = LmdbDnsCacheStore::open(options);
    CHECK_THAT(opened.error, Catch::Contains("is not a directory"));
  }
  SECTION("bad keys and records are refused without touching LMDB") {
    auto store = open_store(temp.path() + "/dns");
    CHECK_THAT(store->put("Upper.Test", route_record(1)), Catch::Contains("domain"));
    DnsCacheRecord no_hosts = route_record(1);
    no_hosts.hosts.clear();
    CHECK_THAT(store->put("ok.test", no_hosts), Catch::Contains("hosts"));
  }
}
