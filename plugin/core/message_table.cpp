#include "core/message_table.h"

#include <stdexcept>

namespace bulkq {

MessageIndex MessageTable::insert(MessageRecord&& record) {
  assert(!record.empty());
  if (!free_.empty()) {
    const MessageIndex index = free_.back();
    free_.pop_back();
    slots_[index] = std::move(record);
    return index;
  }
  if (slots_.size() >= kMaxMessages) throw std::length_error("message table full");
  slots_.push_back(std::move(record));
  return static_cast<MessageIndex>(slots_.size() - 1);
}

void MessageTable::erase(MessageIndex index) {
  assert(contains(index));
  slots_[index] = MessageRecord{};
  free_.push_back(index);
}

}  // namespace bulkq
