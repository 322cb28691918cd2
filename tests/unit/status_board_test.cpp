// StatusBoard: latest() gives what the last publish() gave, and a reader racing a publisher
// always sees one whole published status, never a mix of two (the TSan build checks the locking).
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <thread>

#include "admin/status_board.h"

using namespace bulkq;

TEST_CASE("status board: the latest published status", "[admin][status]") {
  StatusBoard board;
  CHECK(board.latest() == EngineStatus{});

  EngineStatus status;
  status.version = "0.1.0";
  status.messages = 12;
  status.fail_open.memory = 3;
  status.journal_ok = false;
  status.journal_error = "MDB_MAP_FULL";
  board.publish(status);
  CHECK(board.latest() == status);

  status.messages = 13;
  board.publish(status);
  CHECK(board.latest().messages == 13);
}

TEST_CASE("status board: a reader never sees half of a publish", "[admin][status][tsan]") {
  StatusBoard board;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    EngineStatus status;
    for (std::uint64_t i = 1; i <= 20000; ++i) {
      // Every figure equal, and the string's length too: a torn copy would break that.
      status.messages = status.recipients = status.domains = i;
      status.journal_error.assign(i % 64, 'x');
      board.publish(status);
    }
    done = true;
  });
  std::uint64_t last = 0;
  bool consistent = true;
  bool monotonic = true;
  while (!done) {
    const EngineStatus seen = board.latest();
    consistent = consistent && seen.messages == seen.recipients && seen.messages == seen.domains &&
                 seen.journal_error.size() == seen.messages % 64;
    monotonic = monotonic && seen.messages >= last;
    last = seen.messages;
  }
  publisher.join();
  CHECK(consistent);
  CHECK(monotonic);
  CHECK(board.latest().messages == 20000);
}
