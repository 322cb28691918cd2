// QueueRecordWalker: the records of a Postfix queue file in logical order.
//
// Postfix edits a queue file in place (milter header and recipient changes) by overwriting a
// record, or a dummy pointer record, with a `p` record that jumps to new records in a heap after
// the `E` end record; that heap ends with a `p` back into the original stream. The logical order
// is therefore: start at an offset, follow every non-zero `p`, skip `w` padding (Postfix
// rec_get_raw with REC_FLAG_FOLLOW_PTR | REC_FLAG_SKIP_DTXT). The walker yields every other record,
// including `E`; what the records mean is the caller's business.
//
// The bytes are untrusted, so the walk is bounded: a jump outside the file is an error, more than
// kMaxQueueBackwardJumps backward jumps is a loop (Postfix rec_goto's limit), and so is visiting
// more records than the file could hold once each (every record takes at least 2 bytes), which
// bounds the work by the file size whatever the pointers do. Running off the end of the file
// means the file has no `E` record: it is incomplete. Pure; one walker per thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "postfix/queue_record.h"

namespace bulkq {

// Postfix allows one backward jump per inserted header; "no-one is likely to insert 10000
// message headers" (rec_goto in src/global/record.c).
inline constexpr std::size_t kMaxQueueBackwardJumps = 10000;

inline constexpr std::string_view kNoEndRecordError = "truncated queue file: no end record";

class QueueRecordWalker {
 public:
  QueueRecordWalker(std::string_view file, std::size_t start_offset)
      : file_(file), offset_(start_offset), max_records_(file.size() / 2 + 1) {}

  // The next record that is neither a pointer nor padding. After an error, stays failed.
  [[nodiscard]] QueueRecordResult next();

  // Offset of the next record the walker will read.
  [[nodiscard]] std::size_t offset() const { return offset_; }

 private:
  [[nodiscard]] QueueRecordResult fail(std::string error);

  std::string_view file_;
  std::size_t offset_;
  std::size_t max_records_;
  std::size_t records_visited_ = 0;
  std::size_t backward_jumps_ = 0;
  std::string failed_;
};

}  // namespace bulkq
