// plan_done_marks: which bytes of a Postfix queue file to change so that recipients bulkq has
// finished are never delivered by Postfix — the type byte of each one's `R` record becomes `D`,
// exactly the one-byte, in-place change Postfix's qmgr makes after a delivery
// (shared/MTA-FACTS.md §3, §4: only `R` recipients are delivered, `D` ones are skipped).
//
// Pure: the caller reads the file, parses it (parse_queue_file), asks for the plan and writes one
// 'D' at each offset. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "postfix/queue_file_reader.h"

namespace bulkq {

inline constexpr char kDoneRecipientType = 'D';

struct DoneMarksPlan {
  std::vector<std::size_t> offsets;    // type bytes to overwrite with kDoneRecipientType, ascending
  std::uint32_t still_to_deliver = 0;  // recipients left `R` after the marks
  std::string error;                   // set when !ok(): nothing may be written
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// `finished` holds recipient indexes (positions in file.recipients). An index past the list is
// an error; one already `D` needs no mark. Each planned offset is checked to hold an `R` in
// `bytes` (the file the plan is for).
[[nodiscard]] DoneMarksPlan plan_done_marks(std::string_view bytes, const PostfixQueueFile& file,
                                            std::span<const std::uint32_t> finished);

// Writes the plan into `bytes` (for tests and for callers that hold the file in memory).
void apply_done_marks(std::string& bytes, const DoneMarksPlan& plan);

}  // namespace bulkq
