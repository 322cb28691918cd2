#include "core/message_table.h"

#include <catch2/catch.hpp>
#include <string_view>
#include <vector>

using namespace bulkq;

namespace {
MessageRecord record(MessageId id) {
  const std::vector<std::string_view> locals{"a"};
  return MessageRecord(id, MtaKind::postfix, "Q" + std::to_string(id), "s@x.test", locals,
                       TimePoint{});
}
}  // namespace

TEST_CASE("the message table reuses slots of messages that left", "[core][message]") {
  MessageTable table;
  const MessageIndex a = table.insert(record(1));
  const MessageIndex b = table.insert(record(2));
  CHECK(a != b);
  CHECK(table.size() == 2);
  const std::string_view b_queue_id = table[b].spool().queue_id;
  table.erase(a);
  CHECK_FALSE(table.contains(a));
  CHECK(table.size() == 1);
  const MessageIndex c = table.insert(record(3));
  CHECK(c == a);  // slot reused
  CHECK(table[c].id() == 3);
  for (MessageId id = 4; id < 5000; ++id)
    (void)table.insert(record(id));
  CHECK(table[b].spool().queue_id.data() == b_queue_id.data());  // the table grew, blocks stayed
  std::size_t seen = 0;
  table.for_each([&](MessageIndex, const MessageRecord&) { ++seen; });
  CHECK(seen == table.size());
}
