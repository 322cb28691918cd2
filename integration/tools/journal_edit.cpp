// bulkq_journal_edit: reads and edits a stopped bulkqd's recovery journal, for the integration
// tests (integration/scenarios), which simulate an administrator or a crash damaging the state.
//
//   bulkq_journal_edit DIR list        one line per record: ID QUEUE_ID STATE RECIPIENTS FINISHED
//                                      (a record that does not decode: ID - undecodable - - ERROR)
//   bulkq_journal_edit DIR remove ID   removes message ID's record (one committed batch)
//   bulkq_journal_edit DIR highest     the highest id ever committed
//
// Never run it while bulkqd has the journal open: LMDB allows one writer, and bulkqd's in-memory
// state would no longer match. Exit codes: 0 done, 1 the journal failed or the id has no record,
// 2 usage error.
#include <sys/stat.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "journal/lmdb_journal.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage() {
  std::fputs(
      "usage: bulkq_journal_edit DIR list\n"
      "       bulkq_journal_edit DIR remove ID\n"
      "       bulkq_journal_edit DIR highest\n",
      stderr);
  return kExitUsage;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "bulkq_journal_edit: %s\n", message.c_str());
  return kExitFailed;
}

const char* state_name(bulkq::MessageState state) {
  switch (state) {
    case bulkq::MessageState::pending_commit:
      return "pending_commit";
    case bulkq::MessageState::queued:
      return "queued";
  }
  return "unknown";
}

int list(bulkq::LmdbJournal& journal) {
  const bulkq::JournalStatus status = journal.walk([](const bulkq::JournalEntry& entry) {
    if (!entry.ok()) {
      std::printf("%llu - undecodable - - %s\n", static_cast<unsigned long long>(entry.id),
                  entry.error.c_str());
      return;
    }
    const bulkq::JournalRecord& record = entry.record;
    std::printf("%llu %s %s %u %u\n", static_cast<unsigned long long>(entry.id),
                record.queue_id.c_str(), state_name(record.state), record.recipient_count,
                record.finished_count());
  });
  if (!status.ok()) return fail(status.error);
  return kExitOk;
}

int remove_record(bulkq::LmdbJournal& journal, bulkq::MessageId id) {
  bool found = false;
  const bulkq::JournalStatus walked = journal.walk([&](const bulkq::JournalEntry& entry) {
    if (entry.id == id) found = true;
  });
  if (!walked.ok()) return fail(walked.error);
  if (!found) return fail("no record with id " + std::to_string(id));
  bulkq::JournalStatus status = journal.begin_batch();
  if (status.ok()) status = journal.remove(id);
  if (status.ok()) status = journal.commit_batch();
  if (!status.ok()) {
    journal.abort_batch();
    return fail(status.error);
  }
  std::printf("removed %llu\n", static_cast<unsigned long long>(id));
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() < 2) return usage();
  const std::string directory(args[0]);
  const std::string_view command = args[1];
  const bool is_list = command == "list" && args.size() == 2;
  const bool is_highest = command == "highest" && args.size() == 2;
  const bool is_remove = command == "remove" && args.size() == 3;
  if (!is_list && !is_highest && !is_remove) return usage();

  bulkq::MessageId id = 0;
  if (is_remove) {
    const std::string_view text = args[2];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (error != std::errc{} || end != text.data() + text.size() || id == 0) {
      std::fprintf(stderr, "bulkq_journal_edit: bad id \"%.*s\"\n", static_cast<int>(text.size()),
                   text.data());
      return usage();
    }
  }

  // LmdbJournal::open creates a missing directory; an editing tool must not.
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return fail("no journal directory " + directory);
  }
  bulkq::LmdbJournalOptions options;
  options.directory = directory;
  bulkq::LmdbJournalOpenResult opened = bulkq::LmdbJournal::open(options);
  if (!opened.ok()) return fail(opened.error);
  bulkq::LmdbJournal& journal = *opened.journal;

  if (is_list) return list(journal);
  if (is_remove) return remove_record(journal, id);
  const bulkq::HighestIdResult highest = journal.highest_id();
  if (!highest.ok()) return fail(highest.status.error);
  std::printf("%llu\n", static_cast<unsigned long long>(highest.id));
  return kExitOk;
}
