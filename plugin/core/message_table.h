// MessageTable: every held message bulkq is responsible for, by slot index.
//
// Data nodes name messages by slot index (32 bits) rather than by MessageId (64) or pointer
// (64), which keeps nodes small. Slots are reused after a message leaves, so an index is only
// meaningful while the message is in the table. A slot is one pointer (a MessageRecord), so the
// table stays dense and cache-resident; the records' blocks never move. Owned by the scheduler
// thread.
#pragma once

#include <cassert>
#include <cstddef>
#include <vector>

#include "core/data_node.h"
#include "core/message_record.h"

namespace bulkq {

class MessageTable {
 public:
  // UINT32_MAX stays free as a "no message" marker.
  static constexpr std::size_t kMaxMessages = UINT32_MAX - 1;

  [[nodiscard]] MessageIndex insert(MessageRecord&& record);
  void erase(MessageIndex index);

  [[nodiscard]] MessageRecord& operator[](MessageIndex index) {
    assert(index < slots_.size() && !slots_[index].empty());
    return slots_[index];
  }
  [[nodiscard]] const MessageRecord& operator[](MessageIndex index) const {
    assert(index < slots_.size() && !slots_[index].empty());
    return slots_[index];
  }
  // Starts loading a record's block ahead of a batch of updates.
  void prefetch(MessageIndex index) const { slots_[index].prefetch(); }
  [[nodiscard]] bool contains(MessageIndex index) const {
    return index < slots_.size() && !slots_[index].empty();
  }
  [[nodiscard]] std::size_t size() const { return slots_.size() - free_.size(); }

  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].empty()) visit(static_cast<MessageIndex>(i), slots_[i]);
    }
  }

 private:
  std::vector<MessageRecord> slots_;
  std::vector<MessageIndex> free_;
};

}  // namespace bulkq
