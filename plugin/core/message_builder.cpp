#include "core/message_builder.h"

#include "core/mail_address.h"

namespace bulkq {

MessageBuilder::MessageBuilder(MtaKind kind, std::string_view queue_id, std::string_view sender,
                               TimePoint arrived)
    : kind_(kind), queue_id_(queue_id), sender_(sender), arrived_(arrived) {
  if (sender_.size() >= 2 && sender_.front() == '<' && sender_.back() == '>') {
    sender_ = sender_.substr(1, sender_.size() - 2);
  }
}

std::string MessageBuilder::add_recipient(std::string_view address) {
  if (local_part_ends_.size() >= kMaxRecipientsPerMessage) {
    return "too many recipients in one message";
  }
  SplitAddress split = split_address(address);
  if (!split.ok()) return std::move(split.error);
  routing_.route(routing_.add_domain(split.domain));
  local_parts_.append(split.local_part);
  local_part_ends_.push_back(static_cast<std::uint32_t>(local_parts_.size()));
  return {};
}

BuildResult MessageBuilder::build(MessageId id) {
  if (id == 0) return {nullptr, "message id 0 is reserved"};
  if (queue_id_.empty()) return {nullptr, "empty queue id"};
  if (queue_id_.size() > kMaxQueueIdLength) return {nullptr, "queue id longer than 32 characters"};
  for (char c : queue_id_) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '-' || c == '_';
    if (!ok) return {nullptr, "queue id has characters no MTA uses"};
  }
  if (sender_.size() > kMaxAddressLength) return {nullptr, "sender longer than 256 characters"};
  for (char c : sender_) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return {nullptr, "control character in sender"};
  }
  if (local_part_ends_.empty()) return {nullptr, "no deliverable recipients"};

  std::vector<std::string_view> views;
  views.reserve(local_part_ends_.size());
  std::uint32_t begin = 0;
  for (std::uint32_t end : local_part_ends_) {
    views.emplace_back(local_parts_.data() + begin, end - begin);
    begin = end;
  }
  auto message = std::make_unique<IntakeMessage>();
  message->record = MessageRecord(id, kind_, queue_id_, sender_, views, arrived_);
  message->routing = std::move(routing_);
  local_parts_.clear();
  local_part_ends_.clear();
  return {std::move(message), {}};
}

}  // namespace bulkq
