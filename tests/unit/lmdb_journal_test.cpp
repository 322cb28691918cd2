// LmdbJournal against a real LMDB environment in a fresh temporary directory per test, and the
// same contract checks against FakeJournal, so the fake stays true to the real thing.
#include "journal/lmdb_journal.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fakes/fake_journal.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::FakeJournal;
using bulkq::testing::TempDir;

namespace {

JournalRecord record_for(MessageId id, std::uint32_t recipients) {
  JournalRecord record = JournalRecord::with_recipients(recipients);
  record.state = MessageState::queued;
  record.kind = MtaKind::postfix;
  record.queue_id = "Q" + std::to_string(id);
  record.first_seen = TimePoint{Duration{1'800'000'000'000 + static_cast<std::int64_t>(id)}};
  record.next_retry = record.first_seen;
  return record;
}

std::unique_ptr<LmdbJournal> open_journal(const std::string& dir, LmdbJournalOptions options = {}) {
  options.directory = dir;
  LmdbJournalOpenResult opened = LmdbJournal::open(options);
  INFO(opened.error);
  REQUIRE(opened.ok());
  return std::move(opened.journal);
}

struct Walked {
  std::vector<JournalEntry> entries;
  std::vector<MessageId> ids() const {
    std::vector<MessageId> out;
    for (const JournalEntry& e : entries)
      out.push_back(e.id);
    return out;
  }
};

Walked walk_all(Journal& journal) {
  Walked walked;
  const JournalStatus status =
      journal.walk([&](const JournalEntry& entry) { walked.entries.push_back(entry); });
  INFO(status.error);
  REQUIRE(status.ok());
  return walked;
}

void commit_records(Journal& journal, const std::vector<MessageId>& ids,
                    std::uint32_t recipients = 10) {
  REQUIRE(journal.begin_batch().ok());
  for (MessageId id : ids)
    REQUIRE(journal.put(id, record_for(id, recipients)).ok());
  const JournalStatus committed = journal.commit_batch();
  INFO(committed.error);
  REQUIRE(committed.ok());
}

// Writes raw bytes under a raw key with the LMDB C API, as a damaged disk or a hand edit would.
void plant_raw(const std::string& dir, std::string_view key_bytes, std::string_view value_bytes) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 2) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, kJournalMessagesDatabase, 0, &dbi) == 0);
  MDB_val key{key_bytes.size(), const_cast<char*>(key_bytes.data())};
  MDB_val value{value_bytes.size(), const_cast<char*>(value_bytes.data())};
  REQUIRE(mdb_put(txn, dbi, &key, &value, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// The contract both journals keep; `reopen` simulates a restart where the journal has one.
void check_batch_contract(Journal& journal) {
  // An aborted batch leaves nothing behind.
  REQUIRE(journal.begin_batch().ok());
  REQUIRE(journal.put(1, record_for(1, 3)).ok());
  journal.abort_batch();
  CHECK(walk_all(journal).entries.empty());

  // Operations outside a batch, and a second begin, are rejected.
  CHECK(journal.put(1, record_for(1, 3)).kind == JournalErrorKind::rejected);
  CHECK(journal.remove(1).kind == JournalErrorKind::rejected);
  CHECK(journal.commit_batch().kind == JournalErrorKind::rejected);
  REQUIRE(journal.begin_batch().ok());
  CHECK(journal.begin_batch().kind == JournalErrorKind::rejected);

  // Rejected requests inside a batch change nothing and do not fail the batch.
  REQUIRE(journal.put(5, record_for(5, 3)).ok());
  const RecipientIndex out_of_range[] = {3};
  const JournalStatus range = journal.set_finished(5, out_of_range);
  CHECK(range.kind == JournalErrorKind::rejected);
  CHECK_THAT(range.error, Catch::Contains("recipient 3 is out of range"));
  const RecipientIndex first[] = {0};
  const JournalStatus unknown = journal.set_finished(6, first);
  CHECK(unknown.kind == JournalErrorKind::rejected);
  CHECK_THAT(unknown.error, Catch::Contains("message 6") && Catch::Contains("no record"));
  JournalRecord invalid = record_for(7, 3);
  invalid.queue_id.clear();
  CHECK(journal.put(7, invalid).kind == JournalErrorKind::rejected);
  CHECK(journal.remove(99).ok());  // removing what is not there is fine

  // The walk sees the open batch.
  CHECK(walk_all(journal).ids() == std::vector<MessageId>{5});
  const RecipientIndex finished[] = {0, 2, 2};
  REQUIRE(journal.set_finished(5, finished).ok());
  REQUIRE(journal.commit_batch().ok());
  CHECK(journal.health().ok());

  const Walked walked = walk_all(journal);
  REQUIRE(walked.entries.size() == 1);
  CHECK(walked.entries[0].record.finished_bits == std::vector<std::uint64_t>{0b101});
  CHECK(journal.highest_id().id == 5);

  // Removing the newest message does not lower the highest id.
  REQUIRE(journal.begin_batch().ok());
  REQUIRE(journal.remove(5).ok());
  REQUIRE(journal.commit_batch().ok());
  CHECK(walk_all(journal).entries.empty());
  const HighestIdResult highest = journal.highest_id();
  REQUIRE(highest.ok());
  CHECK(highest.id == 5);
}

}  // namespace

TEST_CASE("an LMDB journal creates a private directory and files", "[journal]") {
  TempDir temp;
  const std::string dir = temp.path() + "/journal";
  {
    auto journal = open_journal(dir);
    CHECK(journal->health().ok());
  }
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/data.mdb").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);  // 0600 less the umask
  CHECK((st.st_mode & 0600) == 0600);
}

TEST_CASE("an LMDB journal that cannot open says where and why", "[journal]") {
  TempDir temp;
  SECTION("missing parent") {
    LmdbJournalOptions options;
    options.directory = temp.path() + "/no/such/dir";
    const LmdbJournalOpenResult opened = LmdbJournal::open(options);
    CHECK_FALSE(opened.ok());
    CHECK(opened.journal == nullptr);
    CHECK_THAT(opened.error, Catch::Contains(options.directory) &&
                                 Catch::Contains("cannot create the directory") &&
                                 Catch::Contains("No such file or directory"));
  }
  SECTION("a file where the directory should be") {
    LmdbJournalOptions options;
    options.directory = temp.write("plain-file", "x");
    const LmdbJournalOpenResult opened = LmdbJournal::open(options);
    CHECK_THAT(opened.error, Catch::Contains("is not a directory"));
  }
  SECTION("no directory") {
    const LmdbJournalOpenResult opened = LmdbJournal::open({});
    CHECK_THAT(opened.error, Catch::Contains("no directory configured"));
  }
}

TEST_CASE("the LMDB journal keeps the batch contract", "[journal]") {
  TempDir temp;
  auto journal = open_journal(temp.path() + "/j");
  check_batch_contract(*journal);
}

TEST_CASE("the fake journal keeps the batch contract", "[journal]") {
  FakeJournal journal;
  check_batch_contract(journal);
}

TEST_CASE("one LMDB batch commits many messages and they survive a reopen", "[journal]") {
  TempDir temp;
  const std::string dir = temp.path() + "/j";
  std::vector<MessageId> ids;
  for (MessageId id = 1; id <= 2'000; ++id)
    ids.push_back(id);
  {
    auto journal = open_journal(dir);
    commit_records(*journal, ids, 100);
    REQUIRE(journal->begin_batch().ok());
    const RecipientIndex finished[] = {0, 99};
    REQUIRE(journal->set_finished(1'000, finished).ok());
    REQUIRE(journal->remove(2'000).ok());
    REQUIRE(journal->commit_batch().ok());
  }
  auto journal = open_journal(dir);
  const Walked walked = walk_all(*journal);
  REQUIRE(walked.entries.size() == 1'999);
  for (const JournalEntry& entry : walked.entries) {
    REQUIRE(entry.ok());
    JournalRecord expected = record_for(entry.id, 100);
    if (entry.id == 1'000) {
      expected.set_finished(0);
      expected.set_finished(99);
    }
    REQUIRE(entry.record == expected);
  }
  CHECK(walked.entries.front().id == 1);
  CHECK(walked.entries.back().id == 1'999);
  const HighestIdResult highest = journal->highest_id();
  REQUIRE(highest.ok());
  CHECK(highest.id == 2'000);  // removed, but never to be reused
}

TEST_CASE("records of every size round-trip through LMDB", "[journal]") {
  TempDir temp;
  auto journal = open_journal(temp.path() + "/j");
  const std::vector<std::uint32_t> sizes{0, 1, 64, 65, 10'000};
  REQUIRE(journal->begin_batch().ok());
  std::vector<JournalRecord> written;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    JournalRecord record = record_for(i + 1, sizes[i]);
    for (std::uint32_t r = 0; r < sizes[i]; r += 7)
      record.set_finished(r);
    REQUIRE(journal->put(i + 1, record).ok());
    written.push_back(record);
  }
  REQUIRE(journal->commit_batch().ok());
  const Walked walked = walk_all(*journal);
  REQUIRE(walked.entries.size() == sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i)
    CHECK(walked.entries[i].record == written[i]);
}

TEST_CASE("the LMDB walk is in id order whatever the write order", "[journal]") {
  TempDir temp;
  auto journal = open_journal(temp.path() + "/j");
  commit_records(*journal, {300, 1, 256, 65'536, 2, 0xffffffffffULL, 255});
  CHECK(walk_all(*journal).ids() ==
        std::vector<MessageId>{1, 2, 255, 256, 300, 65'536, 0xffffffffffULL});
  CHECK(journal->highest_id().id == 0xffffffffffULL);
}

TEST_CASE("the highest id of an empty journal is 0, and it persists across reopens", "[journal]") {
  TempDir temp;
  const std::string dir = temp.path() + "/j";
  {
    auto journal = open_journal(dir);
    const HighestIdResult empty = journal->highest_id();
    REQUIRE(empty.ok());
    CHECK(empty.id == 0);
    commit_records(*journal, {10, 20});
    commit_records(*journal, {15});  // a lower id later does not lower it
    REQUIRE(journal->begin_batch().ok());
    REQUIRE(journal->remove(10).ok());
    REQUIRE(journal->remove(15).ok());
    REQUIRE(journal->remove(20).ok());
    REQUIRE(journal->commit_batch().ok());
  }
  auto journal = open_journal(dir);
  CHECK(walk_all(*journal).entries.empty());
  CHECK(journal->highest_id().id == 20);
}

TEST_CASE("a corrupt record is reported with its id and the walk goes on", "[journal]") {
  TempDir temp;
  const std::string dir = temp.path() + "/j";
  {
    auto journal = open_journal(dir);
    commit_records(*journal, {1, 2, 3, 4});
  }
  const auto key3 = encode_journal_key(3);
  plant_raw(dir, std::string_view(key3.data(), key3.size()), "\x07garbage");
  // A key that is no id at all; a prefix of every id key, so it sorts first.
  plant_raw(dir, std::string_view("\x00\x00", 2), "\x01");
  auto journal = open_journal(dir);
  const Walked walked = walk_all(*journal);
  REQUIRE(walked.entries.size() == 5);
  CHECK_FALSE(walked.entries[0].ok());
  CHECK_THAT(walked.entries[0].error, Catch::Contains("journal key is 2 bytes (expected 8): 0000"));
  std::vector<MessageId> good;
  for (const JournalEntry& entry : walked.entries) {
    if (entry.ok()) good.push_back(entry.id);
    if (entry.id == 3) {
      CHECK_FALSE(entry.ok());
      CHECK_THAT(entry.error, Catch::Contains("message 3: journal record has format version 7"));
    }
  }
  CHECK(good == std::vector<MessageId>{1, 2, 4});
  CHECK(journal->highest_id().id == 4);

  // Setting bits in a corrupt record is refused; the batch still commits the rest.
  REQUIRE(journal->begin_batch().ok());
  const RecipientIndex first[] = {0};
  const JournalStatus refused = journal->set_finished(3, first);
  CHECK(refused.kind == JournalErrorKind::rejected);
  CHECK_THAT(refused.error, Catch::Contains("message 3") && Catch::Contains("stored journal"));
  REQUIRE(journal->set_finished(4, first).ok());
  REQUIRE(journal->remove(3).ok());
  REQUIRE(journal->commit_batch().ok());
  CHECK(walk_all(*journal).entries.size() == 4);
}

TEST_CASE("a full LMDB map is reported as map_full and fails the batch", "[journal]") {
  TempDir temp;
  LmdbJournalOptions options;
  options.map_size = 64 * 1024;  // a few pages: a handful of large records fill it
  auto journal = open_journal(temp.path() + "/j", options);
  commit_records(*journal, {1}, 64);
  REQUIRE(journal->health().ok());

  REQUIRE(journal->begin_batch().ok());
  JournalStatus failure;
  MessageId id = 2;
  for (; id < 1'000 && failure.ok(); ++id)
    failure = journal->put(id, record_for(id, 10'000));
  if (failure.ok()) failure = journal->commit_batch();
  REQUIRE(failure.kind == JournalErrorKind::map_full);
  CHECK_THAT(failure.error, Catch::Contains("MDB_MAP_FULL") && Catch::Contains(temp.path()));
  CHECK(journal->health().kind == JournalErrorKind::map_full);

  journal->abort_batch();  // the failure may have come from put, leaving the failed batch open
  // What was committed before is intact, and a small batch still fits and heals the health.
  CHECK(walk_all(*journal).ids() == std::vector<MessageId>{1});
  commit_records(*journal, {2}, 1);
  CHECK(journal->health().ok());
  CHECK(walk_all(*journal).ids() == std::vector<MessageId>{1, 2});
}

TEST_CASE("after a storage failure the batch refuses everything and commit discards it",
          "[journal]") {
  TempDir temp;
  LmdbJournalOptions options;
  options.map_size = 64 * 1024;
  auto journal = open_journal(temp.path() + "/j", options);
  REQUIRE(journal->begin_batch().ok());
  JournalStatus failure;
  for (MessageId id = 1; id < 1'000 && failure.ok(); ++id)
    failure = journal->put(id, record_for(id, 10'000));
  REQUIRE(failure.kind == JournalErrorKind::map_full);
  const JournalStatus again = journal->put(5'000, record_for(5'000, 1));
  CHECK(again.kind == JournalErrorKind::map_full);
  CHECK(again.error == failure.error);
  const JournalStatus committed = journal->commit_batch();
  CHECK(committed.kind == JournalErrorKind::map_full);
  CHECK(walk_all(*journal).entries.empty());
  CHECK(journal->begin_batch().ok());  // the failed batch is gone
  journal->abort_batch();
}

TEST_CASE("a NOSYNC journal flushes when sync_if_due finds the interval passed", "[journal]") {
  TempDir temp;
  const std::string dir = temp.path() + "/j";
  LmdbJournalOptions options;
  options.sync_interval = Duration{1'000};
  const TimePoint t0{Duration{1'800'000'000'000}};
  {
    auto journal = open_journal(dir, options);
    REQUIRE(journal->sync_if_due(t0).ok());  // starts the clock
    commit_records(*journal, {1});
    commit_records(*journal, {2});
    CHECK(journal->unsynced_batches() == 2);
    REQUIRE(journal->sync_if_due(t0 + Duration{999}).ok());
    CHECK(journal->unsynced_batches() == 2);
    REQUIRE(journal->sync_if_due(t0 + Duration{1'000}).ok());
    CHECK(journal->unsynced_batches() == 0);

    // With nothing to flush the window restarts: a batch committed later waits a full interval.
    REQUIRE(journal->sync_if_due(t0 + Duration{5'000}).ok());
    commit_records(*journal, {3});
    REQUIRE(journal->sync_if_due(t0 + Duration{5'500}).ok());
    CHECK(journal->unsynced_batches() == 1);
    REQUIRE(journal->sync_if_due(t0 + Duration{6'000}).ok());
    CHECK(journal->unsynced_batches() == 0);
    commit_records(*journal, {4});  // left for the destructor to flush
    CHECK(journal->unsynced_batches() == 1);
  }
  auto journal = open_journal(dir, options);
  CHECK(walk_all(*journal).ids() == std::vector<MessageId>{1, 2, 3, 4});
}

TEST_CASE("a durable journal never has unsynced batches", "[journal]") {
  TempDir temp;
  auto journal = open_journal(temp.path() + "/j");
  commit_records(*journal, {1});
  CHECK(journal->unsynced_batches() == 0);
  CHECK(journal->sync_if_due(TimePoint{Duration{1}}).ok());
}

TEST_CASE("a fake journal told to fail fails writes and reports it in health", "[journal]") {
  FakeJournal journal;
  commit_records(journal, {1});
  journal.fail_writes(JournalErrorKind::map_full, "full");
  const JournalStatus begun = journal.begin_batch();
  CHECK(begun.kind == JournalErrorKind::map_full);
  CHECK(journal.health().kind == JournalErrorKind::map_full);
  journal.heal();
  REQUIRE(journal.begin_batch().ok());
  journal.fail_writes();
  CHECK(journal.put(2, record_for(2, 1)).kind == JournalErrorKind::storage);
  journal.heal();
  CHECK(journal.put(3, record_for(3, 1)).kind == JournalErrorKind::storage);  // batch failed
  CHECK(journal.commit_batch().kind == JournalErrorKind::storage);
  CHECK(walk_all(journal).ids() == std::vector<MessageId>{1});
  commit_records(journal, {4});
  CHECK(journal.health().ok());
  journal.plant_raw(5, "junk");
  const Walked walked = walk_all(journal);
  REQUIRE(walked.entries.size() == 3);
  CHECK_THAT(walked.entries[2].error, Catch::Contains("message 5"));
  CHECK(journal.highest_id().id == 5);
}
