// Journal benchmark: how fast the LMDB recovery journal takes and gives back message records.
//
// Write: 10 000 records of 100 recipients each (a typical campaign message; 13 finished bits
// set), committed in batches of 100 messages per write transaction — the shape in which the
// engine commits outcomes — into a fresh environment in a temporary directory. Reported as
// records per second, wall-clock (the durable case waits for fsync, not the CPU), once with
// every commit durable and once with MDB_NOSYNC (the flush left to sync_if_due; one final
// mdb_env_sync at close is timed too).
// Walk: the startup recovery read — a walk over the same 10 000 records, decoding each — in
// milliseconds per walk, from a warm page cache.
// The temporary directories live under /tmp (often tmpfs, where fsync is nearly free: the
// durable figure then says nothing about a real disk; set TMPDIR to a directory on one).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "journal/lmdb_journal.h"

namespace bulkq {
namespace {

constexpr MessageId kRecords = 10'000;
constexpr std::uint32_t kRecipients = 100;
constexpr MessageId kMessagesPerBatch = 100;

class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bulkq-journal-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

JournalRecord bench_record(MessageId id) {
  JournalRecord record = JournalRecord::with_recipients(kRecipients);
  record.state = MessageState::queued;
  record.kind = MtaKind::postfix;
  record.queue_id = "4jcjNh4g" + std::to_string(10'000'000 + id);  // 16 characters
  record.attempts = 1;
  record.first_seen = TimePoint{Duration{1'800'000'000'000}};
  record.next_retry = record.first_seen + Duration{600'000};
  for (std::uint32_t r = 0; r < kRecipients; r += 8)
    record.set_finished(r);
  return record;
}

std::unique_ptr<LmdbJournal> open_or_skip(benchmark::State& state, const std::string& dir,
                                          Duration sync_interval) {
  LmdbJournalOptions options;
  options.directory = dir + "/journal";
  options.sync_interval = sync_interval;
  LmdbJournalOpenResult opened = LmdbJournal::open(options);
  if (!opened.ok()) state.SkipWithError(opened.error.c_str());
  return std::move(opened.journal);
}

bool write_all(benchmark::State& state, LmdbJournal& journal) {
  for (MessageId first = 1; first <= kRecords; first += kMessagesPerBatch) {
    JournalStatus status = journal.begin_batch();
    for (MessageId id = first; status.ok() && id < first + kMessagesPerBatch; ++id)
      status = journal.put(id, bench_record(id));
    if (status.ok()) status = journal.commit_batch();
    if (!status.ok()) {
      state.SkipWithError(status.error.c_str());
      return false;
    }
  }
  return true;
}

void write_records(benchmark::State& state, Duration sync_interval) {
  for (auto _ : state) {
    state.PauseTiming();
    {
      ScratchDir dir;
      std::unique_ptr<LmdbJournal> journal = open_or_skip(state, dir.path(), sync_interval);
      if (!journal) break;
      state.ResumeTiming();
      if (!write_all(state, *journal)) break;
      journal.reset();  // NOSYNC: the destructor's one flush is part of the cost
      state.PauseTiming();
    }
    state.ResumeTiming();
  }
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kRecords), benchmark::Counter::kIsRate);
}

void BM_JournalWriteDurable(benchmark::State& state) {
  write_records(state, Duration{0});
}
void BM_JournalWriteNoSync(benchmark::State& state) {
  write_records(state, Duration{1'000});
}

void BM_JournalWalk(benchmark::State& state) {
  ScratchDir dir;
  std::unique_ptr<LmdbJournal> journal = open_or_skip(state, dir.path(), Duration{1'000});
  if (!journal || !write_all(state, *journal)) return;
  std::uint64_t finished = 0;
  std::uint64_t records = 0;
  for (auto _ : state) {
    const JournalStatus walked = journal->walk([&](const JournalEntry& entry) {
      ++records;
      if (entry.ok()) finished += entry.record.finished_count();
    });
    if (!walked.ok()) {
      state.SkipWithError(walked.error.c_str());
      break;
    }
  }
  benchmark::DoNotOptimize(finished);
  state.counters["records/walk"] =
      benchmark::Counter(static_cast<double>(records) / static_cast<double>(state.iterations()));
}

BENCHMARK(BM_JournalWriteDurable)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_JournalWriteNoSync)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_JournalWalk)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

}  // namespace
}  // namespace bulkq

BENCHMARK_MAIN();
