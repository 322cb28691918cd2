// MessageBuilder: turns the envelope an MTA hands over into an IntakeMessage.
//
// Runs on a producer thread (a milter callback); pure, so it is cheap and never blocks. Each bad
// recipient is refused with a reason and the rest go on; the caller decides what a partly
// unroutable message means.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/intake_message.h"

namespace bulkq {

struct BuildResult {
  std::unique_ptr<IntakeMessage> message;  // set when ok()
  std::string error;
  [[nodiscard]] bool ok() const { return message != nullptr; }
};

class MessageBuilder {
 public:
  MessageBuilder(MtaKind kind, std::string_view queue_id, std::string_view sender,
                 TimePoint arrived);

  // Adds one recipient. Returns an empty string, or why the address cannot be queued.
  [[nodiscard]] std::string add_recipient(std::string_view address);
  [[nodiscard]] std::size_t recipient_count() const { return local_part_ends_.size(); }

  // The finished message (the builder is spent afterwards), or why there is none.
  [[nodiscard]] BuildResult build(MessageId id);

 private:
  MtaKind kind_;
  std::string queue_id_;
  std::string sender_;
  TimePoint arrived_;
  // Local parts in one buffer: a message's worth of small strings would each be an allocation,
  // and short-lived allocations between long-lived records fragment the heap.
  std::string local_parts_;
  std::vector<std::uint32_t> local_part_ends_;
  RecipientRouting routing_;
};

}  // namespace bulkq
