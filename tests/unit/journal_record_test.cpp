#include "journal/journal_record.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace bulkq;

namespace {

JournalRecord sample_record(std::uint32_t recipients) {
  JournalRecord record = JournalRecord::with_recipients(recipients);
  record.state = MessageState::queued;
  record.kind = MtaKind::postfix;
  record.queue_id = "4jcjNh4glqz1bYM2";
  record.attempts = 3;
  record.first_seen = TimePoint{Duration{1'700'000'000'123}};
  record.next_retry = TimePoint{Duration{1'700'000'600'456}};
  // Every third recipient finished, and the last one.
  for (std::uint32_t r = 0; r < recipients; r += 3)
    record.set_finished(r);
  if (recipients > 0) record.set_finished(recipients - 1);
  return record;
}

std::string encoded(const JournalRecord& record) {
  EncodedJournalRecord out = encode_journal_record(record);
  REQUIRE(out.ok());
  return out.bytes;
}

// The offset of the recipient count in sample_record's encoding (16-byte queue id).
constexpr std::size_t kCountAt = 4 + 16;

void set_u32(std::string& bytes, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    bytes[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xffU);
}

void check_rejected(const std::string& bytes, const std::string& expected_part) {
  const DecodedJournalRecord decoded = decode_journal_record(bytes);
  CHECK_FALSE(decoded.ok());
  CHECK_THAT(decoded.error, Catch::Contains(expected_part));
}

}  // namespace

TEST_CASE("journal records round-trip for every bit-vector shape", "[journal]") {
  for (std::uint32_t recipients : {0U, 1U, 63U, 64U, 65U, 128U, 10'000U}) {
    CAPTURE(recipients);
    const JournalRecord record = sample_record(recipients);
    const std::string bytes = encoded(record);
    CHECK(bytes.size() == kJournalRecordFixedBytes + 16 + 8 * ((recipients + 63) / 64));
    const DecodedJournalRecord decoded = decode_journal_record(bytes);
    REQUIRE(decoded.ok());
    CHECK(decoded.record == record);
    CHECK(encoded(decoded.record) == bytes);
  }
}

TEST_CASE("a journal record's encoding is the documented little-endian layout", "[journal]") {
  JournalRecord record = JournalRecord::with_recipients(65);
  record.state = MessageState::pending_commit;
  record.kind = MtaKind::exim;
  record.queue_id = "AB";
  record.attempts = 0x0102;
  record.first_seen = TimePoint{Duration{0x0102030405060708}};
  record.next_retry = TimePoint{Duration{-1}};
  record.set_finished(0);
  record.set_finished(64);
  const std::string expected = std::string("\x01\x00\x03\x02", 4) + "AB" +
                               std::string("\x41\x00\x00\x00", 4) + std::string("\x02\x01", 2) +
                               std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8) +
                               std::string(8, '\xff') + std::string("\x01\0\0\0\0\0\0\0", 8) +
                               std::string("\x01\0\0\0\0\0\0\0", 8);
  CHECK(encoded(record) == expected);
}

TEST_CASE("finished bits are counted and read back", "[journal]") {
  JournalRecord record = JournalRecord::with_recipients(130);
  CHECK(record.finished_count() == 0);
  record.set_finished(0);
  record.set_finished(64);
  record.set_finished(129);
  record.set_finished(129);
  CHECK(record.finished_count() == 3);
  CHECK(record.finished(64));
  CHECK_FALSE(record.finished(65));
  CHECK_FALSE(record.finished(130));  // out of range reads as not finished
}

TEST_CASE("a message record becomes its journal record", "[journal]") {
  const std::vector<std::string_view> locals{"a", "b", "c"};
  MessageRecord message(7, MtaKind::sendmail, "x1ABCdef", "s@example.org", locals,
                        TimePoint{Duration{1'000}});
  message.set_state(MessageState::queued);
  message.count_attempt();
  message.set_next_retry(TimePoint{Duration{5'000}});
  message.set_finished(2);
  const JournalRecord record = make_journal_record(message);
  CHECK(record.state == MessageState::queued);
  CHECK(record.kind == MtaKind::sendmail);
  CHECK(record.queue_id == "x1ABCdef");
  CHECK(record.recipient_count == 3);
  CHECK(record.attempts == 1);
  CHECK(record.first_seen == TimePoint{Duration{1'000}});
  CHECK(record.next_retry == TimePoint{Duration{5'000}});
  CHECK(record.finished_bits == std::vector<std::uint64_t>{4});
}

TEST_CASE("the journal key is the id in big-endian so keys sort by id", "[journal]") {
  const auto key = encode_journal_key(0x0102030405060708);
  CHECK(std::string_view(key.data(), key.size()) == "\x01\x02\x03\x04\x05\x06\x07\x08");
  const auto small = encode_journal_key(255);
  const auto large = encode_journal_key(256);
  CHECK(std::string_view(small.data(), 8) < std::string_view(large.data(), 8));
  const DecodedJournalKey decoded = decode_journal_key(std::string_view(key.data(), key.size()));
  REQUIRE(decoded.ok());
  CHECK(decoded.id == 0x0102030405060708);
  const DecodedJournalKey bad = decode_journal_key("\x01\x02\x03");
  CHECK_FALSE(bad.ok());
  CHECK_THAT(bad.error, Catch::Contains("3 bytes") && Catch::Contains("010203"));
}

TEST_CASE("the decoder rejects every malformed record with a clear error", "[journal]") {
  const std::string good = encoded(sample_record(65));
  REQUIRE(decode_journal_record(good).ok());

  SECTION("empty") {
    check_rejected("", "empty");
  }
  SECTION("an unknown format version") {
    std::string bytes = good;
    bytes[0] = 2;
    check_rejected(bytes, "format version 2; this bulkq reads version 1");
    bytes[0] = 0;
    check_rejected(bytes, "format version 0");
  }
  SECTION("shorter than the header") {
    check_rejected(good.substr(0, 3), "truncated: 3 bytes");
  }
  SECTION("an unknown state") {
    std::string bytes = good;
    bytes[1] = 2;
    check_rejected(bytes, "unknown state 2");
  }
  SECTION("an unknown MTA kind") {
    std::string bytes = good;
    bytes[2] = 0;
    check_rejected(bytes, "unknown MTA kind 0");
    bytes[2] = 4;
    check_rejected(bytes, "unknown MTA kind 4");
  }
  SECTION("a queue id length of 0 or over 32") {
    std::string bytes = good;
    bytes[3] = 0;
    check_rejected(bytes, "queue id length 0");
    bytes[3] = 33;
    check_rejected(bytes, "queue id length 33");
  }
  SECTION("a queue id with a byte that cannot name a file") {
    std::string bytes = good;
    bytes[5] = '/';
    check_rejected(bytes, "queue id has byte 0x2f at position 1");
    bytes[5] = '\0';
    check_rejected(bytes, "queue id has byte 0x00 at position 1");
    bytes[5] = ' ';
    check_rejected(bytes, "byte 0x20");
  }
  SECTION("truncated before the bit vector") {
    check_rejected(good.substr(0, kCountAt + 3), "fields before the bit vector need 42");
    check_rejected(good.substr(0, 4), "truncated");
  }
  SECTION("a recipient count over the limit") {
    std::string bytes = good;
    set_u32(bytes, kCountAt, kMaxRecipientsPerMessage + 1);
    check_rejected(bytes, "recipient count 16777216 exceeds the limit 16777215");
    set_u32(bytes, kCountAt, 0xffffffffU);
    check_rejected(bytes, "recipient count 4294967295");
  }
  SECTION("a bit vector of the wrong length") {
    check_rejected(good.substr(0, good.size() - 8), "is 50 bytes; 58 expected for 65 recipients");
    check_rejected(good.substr(0, good.size() - 1), "expected for 65 recipients");
    check_rejected(good + '\0', "is 59 bytes; 58 expected");
    std::string more = good;
    set_u32(more, kCountAt, 129);  // needs a third word
    check_rejected(more, "66 expected for 129 recipients");
    std::string fewer = good;
    set_u32(fewer, kCountAt, 64);  // needs one word, has two
    check_rejected(fewer, "50 expected for 64 recipients");
  }
  SECTION("bits set beyond the recipient count") {
    std::string bytes = good;
    bytes[bytes.size() - 8] |= 0x02;  // recipient 65 of 65 (index 65 does not exist)
    check_rejected(bytes, "finished bits are set beyond the recipient count 65");
    std::string top = good;
    top[top.size() - 1] = static_cast<char>(0x80);
    check_rejected(top, "beyond the recipient count");
  }
}

TEST_CASE("the encoder refuses a record it could not decode", "[journal]") {
  JournalRecord record = sample_record(10);
  SECTION("empty queue id") {
    record.queue_id.clear();
    CHECK_THAT(encode_journal_record(record).error, Catch::Contains("queue id is empty"));
  }
  SECTION("queue id too long") {
    record.queue_id = std::string(33, 'A');
    CHECK_THAT(encode_journal_record(record).error, Catch::Contains("33 bytes, longer than 32"));
  }
  SECTION("bit vector of the wrong size") {
    record.finished_bits.push_back(0);
    CHECK_THAT(encode_journal_record(record).error,
               Catch::Contains("2 words, 1 expected for 10 recipients"));
  }
  SECTION("bits beyond the count") {
    record.finished_bits[0] |= std::uint64_t{1} << 10;
    CHECK_THAT(encode_journal_record(record).error, Catch::Contains("beyond the recipient count"));
  }
  SECTION("too many recipients") {
    record = JournalRecord::with_recipients(kMaxRecipientsPerMessage + 1);
    record.queue_id = "A";
    CHECK_THAT(encode_journal_record(record).error, Catch::Contains("exceeds the limit"));
  }
}
