// LmdbVolumeStore against a real LMDB environment in a fresh temporary directory per test: round
// trip across a reopen, the on-disk layout, saves that replace only the scopes they name, pruning
// of old periods (and of keys outside the layout), malformed records skipped at load, refused
// keys, MDB_MAP_FULL as an error value, and VolumeCounter continuing its counts over a reopen.
#include "quota/lmdb_volume_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "quota/volume_counter.h"
#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono;
using namespace std::chrono_literals;
using bulkq::testing::TempDir;

namespace {

std::unique_ptr<LmdbVolumeStore> open_store(const std::string& dir,
                                            std::size_t map_size = std::size_t{1} << 20) {
  LmdbVolumeStoreOptions options;
  options.directory = dir;
  options.map_size = map_size;
  LmdbVolumeStoreOpenResult opened = LmdbVolumeStore::open(options);
  INFO(opened.error);
  REQUIRE(opened.ok());
  return std::move(opened.store);
}

VolumeLoadResult load_ok(VolumeStore& store, std::string_view period_key) {
  VolumeLoadResult loaded = store.load(period_key);
  INFO(loaded.error);
  REQUIRE(loaded.ok());
  return loaded;
}

std::string key_of(std::string_view period, std::string_view scope) {
  std::string key(period);
  key += '\0';
  key += scope;
  return key;
}

std::string record(std::uint64_t messages, std::uint64_t recipients) {
  std::string bytes(1, '\x01');
  for (int i = 0; i < 8; ++i) {
    bytes += static_cast<char>((messages >> (8 * i)) & 0xff);
  }
  for (int i = 0; i < 8; ++i) {
    bytes += static_cast<char>((recipients >> (8 * i)) & 0xff);
  }
  return bytes;
}

// Raw access with the LMDB C API, as a damaged disk or an older bulkq would leave the file. The
// store must be closed meanwhile: LMDB forbids one environment open twice in a process.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& dir) {
    REQUIRE(mdb_env_create(&env_) == 0);
    REQUIRE(mdb_env_set_maxdbs(env_, 1) == 0);
    REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, kVolumeCountsDatabase, MDB_CREATE, &dbi_) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }
  ~RawDatabase() { mdb_env_close(env_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void put(std::string_view key_bytes, std::string_view value_bytes) {
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn) == 0);
    MDB_val key{key_bytes.size(), const_cast<char*>(key_bytes.data())};
    MDB_val value{value_bytes.size(), const_cast<char*>(value_bytes.data())};
    REQUIRE(mdb_put(txn, dbi_, &key, &value, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }

  std::map<std::string, std::string> all() {
    std::map<std::string, std::string> out;
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_cursor* cursor = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi_, &cursor) == 0);
    MDB_val key{};
    MDB_val value{};
    for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      out.emplace(std::string(static_cast<const char*>(key.mv_data), key.mv_size),
                  std::string(static_cast<const char*>(value.mv_data), value.mv_size));
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return out;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// The distinct periods stored, in order.
std::vector<std::string> stored_periods(const std::string& dir) {
  std::vector<std::string> periods;
  RawDatabase raw(dir);
  for (const auto& [key, value] : raw.all()) {
    const std::string period = key.substr(0, key.find('\0'));
    if (periods.empty() || periods.back() != period) periods.push_back(period);
  }
  return periods;
}

VolumePeriodCounts sample_counts() {
  VolumePeriodCounts counts;
  counts.global = {1'000'000'007, 0x0102030405060708ULL};
  counts.domains["example.test"] = {12, 340};
  counts.domains[""] = {3, 3};  // the null sender
  counts.domains["xn--bcher-kva.test"] = {1, 1};
  counts.domains[std::string("odd\0*@bytes", 11)] = {2, 5};  // whatever MAIL FROM held
  return counts;
}

}  // namespace

TEST_CASE("volume counts survive a reopen", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  {
    auto store = open_store(dir);
    CHECK(store->save("2026-11-29", sample_counts()).empty());
  }
  auto store = open_store(dir);
  const VolumeLoadResult loaded = load_ok(*store, "2026-11-29");
  CHECK(loaded.counts == sample_counts());
  CHECK(loaded.skipped == 0);

  // Another period, even one whose key starts the same way, holds nothing.
  CHECK(load_ok(*store, "2026-11-30").counts == VolumePeriodCounts{});
  CHECK(load_ok(*store, "2026-11-29T10").counts == VolumePeriodCounts{});
  CHECK(load_ok(*store, "2026-11").counts == VolumePeriodCounts{});

  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/data.mdb").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
}

TEST_CASE("volume records are laid out as documented", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  {
    auto store = open_store(dir);
    VolumePeriodCounts counts;
    counts.global = {0x0102030405060708ULL, 2};
    counts.domains["a.test"] = {1, 0x100};
    counts.domains[""] = {0, 0};
    CHECK(store->save("2026-11", counts).empty());
  }
  RawDatabase raw(dir);
  const std::map<std::string, std::string> expected = {
      {key_of("2026-11", "*"), std::string("\x01\x08\x07\x06\x05\x04\x03\x02\x01", 9) +
                                   std::string("\x02\0\0\0\0\0\0\0", 8)},
      {key_of("2026-11", "@"), std::string(1, '\x01') + std::string(16, '\0')},
      {key_of("2026-11", "@a.test"),
       std::string("\x01\x01\0\0\0\0\0\0\0", 9) + std::string("\0\x01\0\0\0\0\0\0", 8)},
  };
  CHECK(raw.all() == expected);
}

TEST_CASE("a save replaces the scopes it names and keeps the others", "[quota][lmdb]") {
  TempDir temp;
  auto store = open_store(temp.path() + "/volume");
  VolumePeriodCounts first;
  first.global = {2, 2};
  first.domains["a.test"] = {1, 1};
  first.domains["b.test"] = {1, 1};
  REQUIRE(store->save("2026-11-29T19", first).empty());
  VolumePeriodCounts second;
  second.global = {3, 5};
  second.domains["b.test"] = {2, 4};
  REQUIRE(store->save("2026-11-29T19", second).empty());

  VolumePeriodCounts expected;
  expected.global = {3, 5};
  expected.domains["a.test"] = {1, 1};
  expected.domains["b.test"] = {2, 4};
  CHECK(load_ok(*store, "2026-11-29T19").counts == expected);
}

TEST_CASE("saving keeps the current period and the one before it, nothing older", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  VolumePeriodCounts counts;
  counts.global = {1, 1};
  counts.domains["a.test"] = {1, 1};
  {
    auto store = open_store(dir);
    for (const char* day : {"2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"}) {
      REQUIRE(store->save(day, counts).empty());
      REQUIRE(store->save(day, counts).empty());  // saves within a period do not prune again
    }
    CHECK(load_ok(*store, "2026-11-27").counts == VolumePeriodCounts{});
    CHECK(load_ok(*store, "2026-11-28").counts == counts);
    CHECK(load_ok(*store, "2026-11-29").counts == counts);
  }
  CHECK(stored_periods(dir) == std::vector<std::string>{"2026-11-28", "2026-11-29"});

  // Left by an older run: old periods and a key outside the layout. A reopened store prunes at
  // its first save.
  {
    RawDatabase raw(dir);
    raw.put(key_of("2026-10-01", "*"), record(9, 9));
    raw.put(key_of("2026-11-01", "@x.test"), record(9, 9));
    raw.put("junk without a separator", record(1, 1));
  }
  {
    auto store = open_store(dir);
    REQUIRE(store->save("2026-11-30", counts).empty());
  }
  CHECK(stored_periods(dir) == std::vector<std::string>{"2026-11-29", "2026-11-30"});

  // A clock set back: saving an earlier period keeps the later one, which goes once it falls
  // behind.
  {
    auto store = open_store(dir);
    REQUIRE(store->save("2026-11-29", counts).empty());
    CHECK(load_ok(*store, "2026-11-30").counts == counts);
  }
  CHECK(stored_periods(dir) == std::vector<std::string>{"2026-11-29", "2026-11-30"});
  {
    auto store = open_store(dir);
    REQUIRE(store->save("2026-12-02", counts).empty());
  }
  CHECK(stored_periods(dir) == std::vector<std::string>{"2026-11-30", "2026-12-02"});
}

TEST_CASE("malformed volume records are skipped and reported, never trusted", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  {
    auto store = open_store(dir);
    VolumePeriodCounts counts;
    counts.global = {5, 50};
    counts.domains["good.test"] = {5, 50};
    REQUIRE(store->save("2026-11-29", counts).empty());
  }
  {
    RawDatabase raw(dir);
    raw.put(key_of("2026-11-29", "@a-short.test"), "xyz");  // cut short
    std::string future = record(1, 1);
    future[0] = '\x02';
    raw.put(key_of("2026-11-29", "@b-future.test"), future);          // a later format
    raw.put(key_of("2026-11-29", "?c-unknown-scope"), record(7, 7));  // neither * nor @
    raw.put(key_of("2026-11-29", std::string("@d\x01\xff", 4)), "");  // empty value
  }
  auto store = open_store(dir);
  VolumeLoadResult loaded = store->load("2026-11-29");
  CHECK(loaded.ok());
  CHECK(loaded.skipped == 4);
  CHECK(loaded.counts.global == VolumeCounts{5, 50});
  CHECK(loaded.counts.domains ==
        std::map<std::string, VolumeCounts>{{"good.test", VolumeCounts{5, 50}}});
  // Keys load in byte order: "?" sorts before "@".
  CHECK_THAT(loaded.first_skip, Catch::Contains(dir) && Catch::Contains("?c-unknown-scope") &&
                                    Catch::Contains("unknown scope"));

  // The next save of a scope replaces its damaged record.
  VolumePeriodCounts repair;
  repair.global = {6, 51};
  repair.domains["a-short.test"] = {1, 1};
  REQUIRE(store->save("2026-11-29", repair).empty());
  loaded = store->load("2026-11-29");
  CHECK(loaded.skipped == 3);
  CHECK(loaded.counts.domains.at("a-short.test") == VolumeCounts{1, 1});
}

TEST_CASE("the reasons for a skipped volume record are specific", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  (void)open_store(dir);
  std::string value;
  std::string reason;
  SECTION("cut short") {
    value = "xyz";
    reason = "value of 3 bytes, expected 17";
  }
  SECTION("a later version") {
    value = record(1, 1);
    value[0] = '\x09';
    reason = "unknown record version 9";
  }
  {
    RawDatabase raw(dir);
    raw.put(key_of("2026-11", "@bad.test"), value);
  }
  auto store = open_store(dir);
  const VolumeLoadResult loaded = store->load("2026-11");
  CHECK(loaded.skipped == 1);
  CHECK(loaded.first_skip ==
        "volume counter " + dir + ": period 2026-11, scope @bad.test: " + reason);
}

TEST_CASE("bad period keys and overlong domains are refused as error values", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  auto store = open_store(dir);
  CHECK_THAT(store->load("").error, Catch::Contains("empty period key"));
  CHECK_THAT(store->save(std::string("2026\0x", 6), VolumePeriodCounts{}),
             Catch::Contains("not a period key"));
  CHECK_THAT(store->save(std::string(40, '9'), VolumePeriodCounts{}),
             Catch::Contains("not a period key"));

  VolumePeriodCounts counts;
  counts.global = {2, 2};
  counts.domains["fine.test"] = {1, 1};
  counts.domains[std::string(600, 'x')] = {1, 1};
  CHECK_THAT(
      store->save("2026-11-29", counts),
      Catch::Contains("sender domain too long for a key, not saved: xxx") && Catch::Contains(dir));
  // The other scopes were saved all the same.
  const VolumeLoadResult loaded = load_ok(*store, "2026-11-29");
  CHECK(loaded.counts.global == VolumeCounts{2, 2});
  CHECK(loaded.counts.domains.size() == 1);
  CHECK(loaded.counts.domains.count("fine.test") == 1);
}

TEST_CASE("a full volume map is an error value and the save leaves nothing half done",
          "[quota][lmdb]") {
  TempDir temp;
  auto store = open_store(temp.path() + "/volume", 64 * 1024);
  VolumePeriodCounts small;
  small.global = {1, 1};
  small.domains["a.test"] = {1, 1};
  REQUIRE(store->save("2026-11-29", small).empty());

  VolumePeriodCounts huge;
  huge.global = {9, 9};
  for (int i = 0; i < 5000; ++i) {
    huge.domains["domain-" + std::to_string(i) + ".test"] = {1, 1};
  }
  const std::string error = store->save("2026-11-29", huge);
  CHECK_THAT(error, Catch::Contains("MDB_MAP_FULL") && Catch::Contains(temp.path()));
  CHECK(load_ok(*store, "2026-11-29").counts == small);
}

TEST_CASE("opening a volume store reports what is wrong", "[quota][lmdb]") {
  TempDir temp;
  LmdbVolumeStoreOptions options;
  SECTION("no directory") {
    const LmdbVolumeStoreOpenResult opened = LmdbVolumeStore::open(options);
    CHECK_FALSE(opened.ok());
    CHECK(opened.store == nullptr);
    CHECK(opened.error == "volume counter: no directory configured");
  }
  SECTION("a file in the way") {
    options.directory = temp.write("file", "x");
    const LmdbVolumeStoreOpenResult opened = LmdbVolumeStore::open(options);
    CHECK_THAT(opened.error,
               Catch::StartsWith("volume counter ") && Catch::Contains("is not a directory"));
  }
}

TEST_CASE("a volume counter over LMDB continues its counts after a restart", "[quota][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/volume";
  const system_clock::time_point noon = sys_days{2026y / 11 / 29} + 12h;
  VolumeLimits limits;
  limits.messages = 4;
  limits.domains["d.test"] = {0, 10};
  {
    auto store = open_store(dir);
    VolumeCounter counter(limits, store.get());
    CHECK(counter.restore(noon).empty());
    CHECK(counter.admit("D.test", 6, noon).admitted());
    CHECK(counter.admit("e.test", 1, noon).admitted());
    CHECK(counter.flush().empty());
    // Counted after the last flush: a kill -9 now forgets this one.
    CHECK(counter.admit("e.test", 1, noon).admitted());
  }
  auto store = open_store(dir);
  VolumeCounter counter(limits, store.get());
  CHECK(counter.restore(noon + 1h).empty());
  const VolumeSnapshot snap = counter.snapshot(noon + 1h);
  CHECK(snap.global == VolumeCounts{2, 7});
  CHECK_FALSE(counter.admit("d.test", 5, noon + 1h).admitted());  // 6 + 5 > 10
  CHECK(counter.admit("d.test", 4, noon + 1h).admitted());
  CHECK(counter.admit("x.test", 1, noon + 1h).admitted());
  CHECK_FALSE(counter.admit("x.test", 1, noon + 1h).admitted());  // 4 messages
  CHECK(counter.flush().empty());
  CHECK(load_ok(*store, "2026-11-29").counts.global == VolumeCounts{4, 12});
}
