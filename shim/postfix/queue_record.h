// QueueRecord: one typed record of a Postfix queue file, decoded in place.
//
// A queue file is a sequence of records: a type byte, the data length as a base-128 varint (7 bits
// per byte, least significant group first, high bit = more bytes follow) and the data; there is no
// terminator (shared/MTA-FACTS.md §3, Postfix src/global/record.c). decode_queue_record() reads the
// one record at an offset and nothing else: no pointer following, no segment rules (those are
// QueueRecordWalker's and parse_queue_file's). Pure; callable from any thread. The file bytes are
// untrusted: every length is checked against the buffer and the limits below, and a failure is a
// value naming the offset, never an assert.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bulkq {

// Record types as Postfix writes them (src/global/rec_type.h). Only the ones bulkq interprets are
// named; the rest are known (is_known_queue_record_type) and skipped.
namespace queue_record_type {
inline constexpr char kSize = 'C';           // first record: six fixed-width decimals
inline constexpr char kTime = 'T';           // arrival time "sec usec"
inline constexpr char kAttribute = 'A';      // "name=value"
inline constexpr char kSender = 'S';         // envelope sender; empty = null sender <>
inline constexpr char kOriginalRcpt = 'O';   // recipient before alias/virtual expansion
inline constexpr char kRecipient = 'R';      // recipient still to deliver
inline constexpr char kDoneRecipient = 'D';  // recipient already delivered (qmgr wrote R→D)
inline constexpr char kCancelledRcpt = '/';  // cancelled recipient
inline constexpr char kKilled = 'K';         // killed record
inline constexpr char kMessageStart = 'M';   // end of the envelope, start of the content
inline constexpr char kNormalText = 'N';     // one content line (without CRLF)
inline constexpr char kContinuedText = 'L';  // content fragment, continued by the next N or L
inline constexpr char kExtracted = 'X';      // start of the extracted segment
inline constexpr char kEnd = 'E';            // end of the queue file
inline constexpr char kPointer = 'p';        // jump to an offset; "0" = no-op
inline constexpr char kPadding = 'w';        // padding, skipped
inline constexpr char kDsnEnvelopeId = 'i';  // legacy DSN ENVID record
inline constexpr char kDsnRet = '<';         // legacy DSN RET record
inline constexpr char kDsnOrcpt = 'o';       // legacy DSN ORCPT record
inline constexpr char kDsnNotify = 'n';      // legacy DSN NOTIFY record
}  // namespace queue_record_type

// Longest varint length field Postfix accepts (it refuses a shift of 32 bits or more).
inline constexpr std::size_t kMaxQueueRecordLengthBytes = 5;
// Postfix splits content lines into records of at most line_length_limit (2048) bytes and
// envelope records are addresses and short attributes; anything near this size is corruption.
inline constexpr std::size_t kMaxQueueRecordLength = 1024 * 1024;

struct QueueRecord {
  char type = 0;
  std::size_t offset = 0;       // offset of the type byte
  std::string_view data;        // a view into the file bytes
  std::size_t next_offset = 0;  // first byte after the record
};

struct QueueRecordResult {
  QueueRecord record;
  std::string error;  // set when !ok(): names the offset and what is wrong
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Decodes the record that starts at `offset` in `file`. Fails if the length field is cut off,
// longer than kMaxQueueRecordLengthBytes, over kMaxQueueRecordLength, or the data runs past the
// end of `file`. The record type is not checked here.
[[nodiscard]] QueueRecordResult decode_queue_record(std::string_view file, std::size_t offset);

// True for every record type Postfix defines (rec_type.h), whether or not bulkq interprets it.
[[nodiscard]] bool is_known_queue_record_type(char type);

// The type for an error message: 'R', or 0x01 for an unprintable byte.
[[nodiscard]] std::string describe_queue_record_type(char type);

}  // namespace bulkq
