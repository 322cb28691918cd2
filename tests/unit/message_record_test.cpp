#include "core/message_record.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

using namespace bulkq;

TEST_CASE("a message record keeps its envelope in one block", "[core][message]") {
  const std::vector<std::string_view> locals{"alice", "bob", "\"carol x\""};
  const TimePoint arrived{Duration{1'700'000'000'000}};
  MessageRecord record(42, MtaKind::postfix, "4jcjNh4glqz1bYM2", "sender@example.org", locals,
                       arrived);
  CHECK(record.id() == 42);
  CHECK(record.spool().kind == MtaKind::postfix);
  CHECK(record.spool().queue_id == "4jcjNh4glqz1bYM2");
  CHECK(record.sender() == "sender@example.org");
  REQUIRE(record.recipient_count() == 3);
  CHECK(record.local_part(0) == "alice");
  CHECK(record.local_part(1) == "bob");
  CHECK(record.local_part(2) == "\"carol x\"");
  CHECK(record.arrived() == arrived);
  CHECK(record.state() == MessageState::pending_commit);
  // header + bits + 4 16-bit offsets + strings, nothing else
  CHECK(record.heap_bytes() == 40 + 8 + 4 * 2 + 16 + 18 + 5 + 3 + 9);
}

TEST_CASE("the null sender is an empty string", "[core][message]") {
  const std::vector<std::string_view> locals{"a"};
  MessageRecord record(1, MtaKind::postfix, "ABC", "", locals, TimePoint{});
  CHECK(record.sender().empty());
  CHECK(record.local_part(0) == "a");
}

TEST_CASE("finished bits are counted once per recipient", "[core][message]") {
  std::vector<std::string> storage;
  for (int i = 0; i < 130; ++i)
    storage.push_back("r" + std::to_string(i));
  const std::vector<std::string_view> locals(storage.begin(), storage.end());
  MessageRecord record(7, MtaKind::postfix, "Q1", "s@x.test", locals, TimePoint{});

  CHECK(record.finished_bits().size() == 3);  // 130 bits need three words
  CHECK(record.set_finished(0));
  CHECK(record.set_finished(64));
  CHECK(record.set_finished(129));
  CHECK_FALSE(record.set_finished(64));  // already finished: not counted twice
  CHECK(record.finished_count() == 3);
  CHECK(record.finished(0));
  CHECK_FALSE(record.finished(1));
  CHECK(record.finished(129));
  CHECK(record.finished_bits()[0] == 1U);
  CHECK(record.finished_bits()[1] == 1U);
  CHECK(record.finished_bits()[2] == 2U);
  CHECK_FALSE(record.all_finished());
  for (RecipientIndex r = 0; r < 130; ++r)
    record.set_finished(r);
  CHECK(record.all_finished());
  // Local parts are untouched by bit updates (they share the block).
  CHECK(record.local_part(129) == "r129");
}

TEST_CASE("a record whose text passes 64 KiB switches to wide offsets", "[core][message]") {
  std::vector<std::string> storage;
  for (int i = 0; i < 3000; ++i)
    storage.push_back(std::string(60, 'a') + std::to_string(i));
  const std::vector<std::string_view> locals(storage.begin(), storage.end());
  MessageRecord record(9, MtaKind::postfix, "Q9", "s@x.test", locals, TimePoint{});
  REQUIRE(record.recipient_count() == 3000);
  for (RecipientIndex r = 0; r < 3000; ++r)
    REQUIRE(record.local_part(r) == storage[r]);
  CHECK(record.sender() == "s@x.test");
}

TEST_CASE("a moved-from record is empty and the move keeps the data", "[core][message]") {
  const std::vector<std::string_view> locals{"a", "b"};
  MessageRecord first(3, MtaKind::postfix, "Q3", "s@x.test", locals, TimePoint{});
  first.set_finished(1);
  MessageRecord second(std::move(first));
  CHECK(first.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(second.id() == 3);
  CHECK(second.finished(1));
  CHECK(second.local_part(0) == "a");
}

TEST_CASE("attempts saturate instead of wrapping", "[core][message]") {
  const std::vector<std::string_view> locals{"a"};
  MessageRecord record(1, MtaKind::postfix, "Q", "s@x.test", locals, TimePoint{});
  for (int i = 0; i < 70'000; ++i)
    record.count_attempt();
  CHECK(record.attempts() == UINT16_MAX);
}
