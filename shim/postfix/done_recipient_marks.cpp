#include "postfix/done_recipient_marks.h"

#include <algorithm>

namespace bulkq {

DoneMarksPlan plan_done_marks(std::string_view bytes, const PostfixQueueFile& file,
                              std::span<const std::uint32_t> finished) {
  DoneMarksPlan plan;
  std::vector<bool> mark(file.recipients.size(), false);
  for (const std::uint32_t r : finished) {
    if (r >= file.recipients.size()) {
      plan.error = "finished recipient " + std::to_string(r) + " is past the file's " +
                   std::to_string(file.recipients.size()) + " recipient(s)";
      return plan;
    }
    mark[r] = true;
  }
  for (std::size_t r = 0; r < file.recipients.size(); ++r) {
    const PostfixRecipient& recipient = file.recipients[r];
    if (recipient.done) continue;
    if (!mark[r]) {
      ++plan.still_to_deliver;
      continue;
    }
    const std::size_t at = recipient.record_offset;
    if (at >= bytes.size() || bytes[at] != 'R') {
      plan.error = "offset " + std::to_string(at) + ": recipient " + std::to_string(r) +
                   " has no R record there";
      plan.offsets.clear();
      return plan;
    }
    plan.offsets.push_back(at);
  }
  std::sort(plan.offsets.begin(), plan.offsets.end());
  return plan;
}

void apply_done_marks(std::string& bytes, const DoneMarksPlan& plan) {
  for (const std::size_t at : plan.offsets) {
    if (at < bytes.size()) bytes[at] = kDoneRecipientType;
  }
}

}  // namespace bulkq
