#include "postfix/content_cursor.h"

#include "postfix/queue_record.h"

namespace bulkq {

bool ContentCursor::next() {
  if (finished_) return false;
  joined_.clear();
  bool joining = false;
  for (;;) {
    const QueueRecordResult next = walker_.next();
    if (!next.ok()) {
      error_ = next.error;
      finished_ = true;
      return false;
    }
    const QueueRecord& record = next.record;
    switch (record.type) {
      case queue_record_type::kNormalText:
        if (!joining) {
          line_ = record.data;
          return true;
        }
        joined_.append(record.data);
        line_ = joined_;
        return true;
      case queue_record_type::kContinuedText:
        joined_.append(record.data);
        joining = true;
        continue;
      case queue_record_type::kExtracted:
        finished_ = true;
        if (!joining) return false;
        line_ = joined_;  // fragments with no closing N: postcat ends the line here too
        return true;
      default:
        error_ = "offset " + std::to_string(record.offset) + ": record type " +
                 describe_queue_record_type(record.type) +
                 " is out of place in the message content segment";
        finished_ = true;
        return false;
    }
  }
}

}  // namespace bulkq
