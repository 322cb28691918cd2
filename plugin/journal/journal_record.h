// JournalRecord: what the recovery journal keeps about one held message, and its on-disk bytes.
//
// A record is the little that startup recovery needs to rebuild the queue map without a second
// copy of the message: where the body is (MTA kind + queue id), whether the MTA has committed it,
// how many recipients it has and which of them are finished (delivered or bounced), and the retry
// bookkeeping. Never the body, never headers, never addresses: those stay in the MTA's spool.
//
// Encoding, version 1 — fixed-width little-endian fields, no padding, no alignment assumed:
//
//   offset        size  field
//   0             1     format version (1)
//   1             1     state: 0 pending_commit, 1 queued
//   2             1     MTA kind: 1 postfix, 2 sendmail, 3 exim
//   3             1     queue id length L (1..32)
//   4             L     queue id bytes (printable ASCII, no '/': it names a spool file)
//   4+L           4     recipient count N (u32, at most kMaxRecipientsPerMessage)
//   8+L           2     attempts (u16)
//   10+L          8     first seen, milliseconds since the Unix epoch (i64)
//   18+L          8     next retry, milliseconds since the Unix epoch (i64)
//   26+L          8*W   finished bits, W = ceil(N/64) u64 words; recipient r is bit r%64 of word
//                       r/64; bits at positions >= N are zero
//
// The record's key is bulkq's MessageId as 8 big-endian bytes, so LMDB (which orders keys by
// memcmp) iterates records in id order.
//
// The decoder treats its input as untrusted (a journal can be damaged on disk or by hand): it
// is bounded by the input length, checks every field and returns a clear error; it never crashes
// and never reads past the end. Every record it accepts re-encodes to exactly the same bytes.
// Pure: no I/O, no state; callable from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/message_record.h"
#include "core/spool_ref.h"

namespace bulkq {

inline constexpr std::uint8_t kJournalRecordVersion = 1;
// Bytes of a record before its bit vector, without the queue id.
inline constexpr std::size_t kJournalRecordFixedBytes = 26;
inline constexpr std::size_t kJournalKeyBytes = 8;

struct JournalRecord {
  MessageState state = MessageState::pending_commit;
  MtaKind kind = MtaKind::postfix;
  std::string queue_id;
  std::uint32_t recipient_count = 0;
  std::uint16_t attempts = 0;
  TimePoint first_seen{};
  TimePoint next_retry{};
  std::vector<std::uint64_t> finished_bits;  // ceil(recipient_count / 64) words

  // A record for `recipient_count` recipients, none finished.
  [[nodiscard]] static JournalRecord with_recipients(std::uint32_t recipient_count);

  [[nodiscard]] bool finished(RecipientIndex r) const {
    return r < recipient_count && (finished_bits[r / 64] >> (r % 64) & 1U) != 0;
  }
  // The caller checks r < recipient_count.
  void set_finished(RecipientIndex r) { finished_bits[r / 64] |= std::uint64_t{1} << (r % 64); }
  [[nodiscard]] std::uint32_t finished_count() const;

  friend bool operator==(const JournalRecord&, const JournalRecord&) = default;
};

// The journal's view of a message the engine holds in memory.
[[nodiscard]] JournalRecord make_journal_record(const MessageRecord& message);

// Empty when `record` can be encoded; otherwise what is wrong with it (queue id length or bytes,
// recipient count, bit vector size, bits set beyond the recipient count).
[[nodiscard]] std::string check_journal_record(const JournalRecord& record);

struct EncodedJournalRecord {
  std::string bytes;  // set when ok()
  std::string error;  // set when !ok(): check_journal_record's finding; nothing is encoded
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] EncodedJournalRecord encode_journal_record(const JournalRecord& record);

struct DecodedJournalRecord {
  JournalRecord record;  // set when ok()
  std::string error;     // set when !ok(): which field is wrong and how
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] DecodedJournalRecord decode_journal_record(std::string_view bytes);

// The record key: the id as 8 big-endian bytes.
[[nodiscard]] std::array<char, kJournalKeyBytes> encode_journal_key(MessageId id);

struct DecodedJournalKey {
  MessageId id = 0;   // set when ok()
  std::string error;  // set when !ok(): the key's length and bytes in hex
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] DecodedJournalKey decode_journal_key(std::string_view bytes);

}  // namespace bulkq
