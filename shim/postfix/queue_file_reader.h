// parse_queue_file: the envelope of one Postfix queue file (a held message), from its bytes.
//
// Pure: no I/O (read_queue_file in queue_file_bytes.h loads the bytes). Walks the file once in
// logical order (QueueRecordWalker: pointers followed, padding skipped) from offset 0 to the `E`
// record, applying the segment rules of shared/MTA-FACTS.md §3: the `C` size record first, then
// the envelope up to `M`, the content up to `X`, the extracted segment up to `E`. It keeps the
// envelope (arrival time, sender, DSN attributes, recipients of both segments with their
// delivered flag) and checks every content record, but copies no content: ContentCursor
// (content_cursor.h) streams the lines afterwards from `content_start`.
//
// The bytes are untrusted. Anything malformed — a bad record, an unknown type or one out of
// place, a bad `C` or `T` record, a pointer outside the file or in a loop, no `E` — makes the
// result an error naming the offset and the problem, for this file only. Callable from any
// thread; keeps no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulkq {

// The `C` record: fixed-width decimals that cleanup and qmgr update in place.
struct PostfixSizeRecord {
  std::int64_t content_size = 0;     // bytes from the first content record to `X`
  std::int64_t content_offset = 0;   // offset of the first content record
  std::int64_t recipient_count = 0;  // as cleanup counted them
  std::int64_t qmgr_flags = 0;
  std::int64_t content_length = 0;
  std::int64_t smtputf8_flags = 0;  // 1 = SMTPUTF8 requested, 2 = UTF-8 headers (may be OR-ed)
};

// DSN NOTIFY bits as Postfix stores them in `A notify_flags=` (src/global/dsn_mask.h).
namespace dsn_notify {
inline constexpr std::uint32_t kNever = 1;
inline constexpr std::uint32_t kSuccess = 2;
inline constexpr std::uint32_t kFailure = 4;
inline constexpr std::uint32_t kDelay = 8;
}  // namespace dsn_notify

// DSN RET as Postfix stores it in `A ret_flags=`.
namespace dsn_ret {
inline constexpr std::uint32_t kFull = 1;
inline constexpr std::uint32_t kHeaders = 2;
}  // namespace dsn_ret

struct PostfixRecipient {
  std::string address;             // the `R` (or `D`) record: the address to deliver to
  std::string original_address;    // the `O` record before it (pre alias/virtual); may be empty
  bool done = false;               // a `D` record: already delivered, never send again
  bool extracted = false;          // from the extracted segment (sendmail -t)
  std::uint32_t notify_flags = 0;  // dsn_notify bits; 0 = NOTIFY not given
  std::string dsn_orig_rcpt;       // DSN ORCPT as stored ("rfc822;addr"); empty = not given
  std::size_t record_offset = 0;   // offset of the R/D type byte (qmgr marks done by R→D there)
};

struct PostfixQueueFile {
  PostfixSizeRecord size;
  std::int64_t arrival_seconds = 0;  // `T` record, Unix time
  std::int64_t arrival_microseconds = 0;
  std::string sender;           // empty = the null sender <>
  std::string envelope_id;      // DSN ENVID; empty = not given
  std::uint32_t ret_flags = 0;  // dsn_ret value; 0 = RET not given
  std::string encoding;         // `A encoding=`: "8bit" for BODY=8BITMIME, "7bit", or empty
  std::vector<PostfixRecipient> recipients;  // both segments, in file order
  std::size_t content_start = 0;  // where the walk continues after `M`: ContentCursor starts here
};

struct PostfixQueueFileResult {
  PostfixQueueFile file;
  std::string error;  // set when !ok(): "offset N: what is wrong", or the missing `E`
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] PostfixQueueFileResult parse_queue_file(std::string_view bytes);

}  // namespace bulkq
