// Recovery benchmark: how long startup recovery takes to rebuild the queues of a big backlog.
//
// Workload (issue 3): 10 000 held Postfix queue files of 100 recipients each — 1 000 000 pending
// recipients — each carrying bulkq's marker, with one journal record per file (nothing finished
// yet), recipients' domains drawn from 10 000 domains with a Zipf(1) skew. Recovery is the real
// thing: LmdbJournal walk, PostfixSpool check + read + parse of every file, MessageBuilder, the
// scheduler's filing, the journal's update batch (durable commit), and the adoption scan of the
// hold directory. Reported: wall-clock seconds per recovery (3 runs, each into a fresh engine),
// recipients/s, and the engine's memory growth. The files were just written, so the page cache
// is warm — the state after bulkqd is killed; after a reboot the first read of 10 000 files adds
// the disk's time. TMPDIR chooses where the scratch directory goes.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "core/scheduler.h"
#include "intake/intake_engine.h"
#include "intake/intake_handoff.h"
#include "journal/lmdb_journal.h"
#include "postfix/postfix_spool.h"
#include "support/held_file_writer.h"

namespace {

using namespace bulkq;

constexpr int kFiles = 10'000;
constexpr int kRecipientsPerFile = 100;
constexpr int kDomains = 10'000;
constexpr int kRuns = 3;

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Zipf(1) over [0, n): the inverse of the cumulative weights by binary search.
class Zipf {
 public:
  explicit Zipf(int n) : cumulative_(static_cast<std::size_t>(n)) {
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      sum += 1.0 / (k + 1);
      cumulative_[static_cast<std::size_t>(k)] = sum;
    }
  }
  int operator()(std::mt19937_64& random) const {
    std::uniform_real_distribution<double> uniform(0, cumulative_.back());
    const double u = uniform(random);
    return static_cast<int>(std::lower_bound(cumulative_.begin(), cumulative_.end(), u) -
                            cumulative_.begin());
  }

 private:
  std::vector<double> cumulative_;
};

std::string queue_id_of(int i) {
  // 16 characters like Postfix's long ids.
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "4jcjNh%06dz1bYM", i);
  return buffer;
}

}  // namespace

int main() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bulkq-recovery-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string root = pattern;
  const std::string hold = root + "/spool/hold";
  std::filesystem::create_directories(hold);

  std::printf("recovery bench: writing %d held files x %d recipients (%d domains, Zipf 1)...\n",
              kFiles, kRecipientsPerFile, kDomains);
  std::mt19937_64 random(42);
  const Zipf zipf(kDomains);
  std::uint64_t file_bytes = 0;
  {
    LmdbJournalOptions options;
    options.directory = root + "/journal";
    options.sync_interval = Duration(1000);  // setup only: written fast, flushed at close
    LmdbJournalOpenResult journal = LmdbJournal::open(options);
    if (!journal.ok()) {
      std::fprintf(stderr, "%s\n", journal.error.c_str());
      return 1;
    }
    if (!journal.journal->begin_batch().ok()) return 1;
    for (int i = 0; i < kFiles; ++i) {
      const MessageId id = static_cast<MessageId>(i) + 1;
      bulkq::testing::HeldFileSpec spec;
      spec.queue_id = queue_id_of(i);
      spec.sender = "news@sender.example";
      spec.marker = id;
      spec.marker_placement = bulkq::testing::MarkerPlacement::heap_after_end;
      spec.recipients.clear();
      for (int r = 0; r < kRecipientsPerFile; ++r) {
        spec.recipients.push_back({"subscriber" + std::to_string(i * kRecipientsPerFile + r) +
                                       "@domain" + std::to_string(zipf(random)) + ".example",
                                   false});
      }
      spec.body_lines.assign(16, std::string(60, 'x'));  // a 1 KB body
      if (bulkq::testing::write_held_file(hold, spec).empty()) {
        std::fprintf(stderr, "cannot write %s/%s\n", hold.c_str(), spec.queue_id.c_str());
        return 1;
      }
      file_bytes += std::filesystem::file_size(hold + "/" + spec.queue_id);
      JournalRecord record = JournalRecord::with_recipients(kRecipientsPerFile);
      record.state = MessageState::queued;
      record.queue_id = spec.queue_id;
      record.first_seen = TimePoint(Duration(1'795'946'358'000));
      if (!journal.journal->put(id, record).ok()) return 1;
    }
    if (!journal.journal->commit_batch().ok()) return 1;
  }
  std::printf("  %d files, %.1f MB, in %s\n\n", kFiles, static_cast<double>(file_bytes) / 1e6,
              root.c_str());

  std::vector<double> seconds;
  for (int run = 0; run < kRuns; ++run) {
    const SystemClock clock;
    LmdbJournalOptions options;
    options.directory = root + "/journal";
    LmdbJournalOpenResult journal = LmdbJournal::open(options);
    if (!journal.ok()) return 1;
    PostfixSpool spool(root + "/spool");
    Scheduler scheduler(clock, {});
    IntakeHandoff handoff(16);
    IntakeSignals signals;
    IntakeEngine engine(clock, scheduler, handoff, *journal.journal, spool, signals, {},
                        [](LogLevel level, std::string_view line) {
                          if (level >= LogLevel::warning)
                            std::fprintf(stderr, "  %.*s\n", static_cast<int>(line.size()),
                                         line.data());
                        });
    const long rss_before = rss_kib();
    const auto start = std::chrono::steady_clock::now();
    const RecoveryReport report = engine.recover();
    const auto end = std::chrono::steady_clock::now();
    const long rss_after = rss_kib();
    const double s = std::chrono::duration<double>(end - start).count();
    seconds.push_back(s);
    std::printf(
        "run %d: %.3f s  messages=%llu recipients=%llu domains=%zu errors=%llu  "
        "%.2f M recipients/s  RSS +%.1f MB\n",
        run + 1, s, static_cast<unsigned long long>(report.recovered),
        static_cast<unsigned long long>(report.recipients), scheduler.queues().queue_count(),
        static_cast<unsigned long long>(report.errors),
        static_cast<double>(report.recipients) / s / 1e6,
        static_cast<double>(rss_after - rss_before) / 1024.0);
    if (report.recipients != static_cast<std::uint64_t>(kFiles) * kRecipientsPerFile) {
      std::fprintf(stderr, "recovery bench: expected %d recipients\n", kFiles * kRecipientsPerFile);
      return 1;
    }
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf(
      "\nrecovery of 1M pending recipients over 10k held files: median %.3f s (target <= 3 s)\n",
      seconds[seconds.size() / 2]);
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  return 0;
}
