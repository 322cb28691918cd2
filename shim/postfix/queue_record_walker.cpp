#include "postfix/queue_record_walker.h"

#include <string>

#include "core/quoted_text.h"

namespace bulkq {

namespace {

// Longest pointer data accepted: Postfix writes "%15ld" (15 characters) or "0".
constexpr std::size_t kMaxPointerDataLength = 20;

// Parses `p` data: optional leading spaces, then decimal digits. Returns false if malformed.
bool parse_pointer(std::string_view data, std::size_t& target) {
  if (data.size() > kMaxPointerDataLength) return false;
  std::size_t i = 0;
  while (i < data.size() && data[i] == ' ')
    ++i;
  if (i == data.size()) return false;
  std::size_t value = 0;
  for (; i < data.size(); ++i) {
    if (data[i] < '0' || data[i] > '9') return false;
    value = value * 10 + static_cast<std::size_t>(data[i] - '0');
    if (value > (std::size_t{1} << 48)) return false;  // far past any file, and no overflow
  }
  target = value;
  return true;
}

}  // namespace

QueueRecordResult QueueRecordWalker::fail(std::string error) {
  failed_ = error;
  QueueRecordResult result;
  result.error = std::move(error);
  return result;
}

QueueRecordResult QueueRecordWalker::next() {
  if (!failed_.empty()) return fail(failed_);
  for (;;) {
    if (offset_ >= file_.size()) {
      return fail(std::string(kNoEndRecordError) + " (reached the end of the file at offset " +
                  std::to_string(file_.size()) + ")");
    }
    if (++records_visited_ > max_records_) {
      return fail("offset " + std::to_string(offset_) +
                  ": pointer loop: visited more records than the file can hold");
    }
    QueueRecordResult decoded = decode_queue_record(file_, offset_);
    if (!decoded.ok()) return fail(std::move(decoded.error));
    const QueueRecord& record = decoded.record;
    if (record.type == queue_record_type::kPadding) {
      offset_ = record.next_offset;
      continue;
    }
    if (record.type != queue_record_type::kPointer) {
      offset_ = record.next_offset;
      return decoded;
    }
    std::size_t target = 0;
    if (!parse_pointer(record.data, target)) {
      return fail("offset " + std::to_string(record.offset) + ": malformed p record data " +
                  quoted_text(record.data, 40, NonAscii::escape));
    }
    if (target == 0) {  // a dummy pointer, kept for later edits
      offset_ = record.next_offset;
      continue;
    }
    if (target >= file_.size()) {
      return fail("offset " + std::to_string(record.offset) + ": p record points to " +
                  std::to_string(target) + ", outside the file (size " +
                  std::to_string(file_.size()) + ")");
    }
    if (target <= record.offset && ++backward_jumps_ > kMaxQueueBackwardJumps) {
      return fail("offset " + std::to_string(record.offset) + ": more than " +
                  std::to_string(kMaxQueueBackwardJumps) + " backward p jumps: pointer loop");
    }
    offset_ = target;
  }
}

}  // namespace bulkq
