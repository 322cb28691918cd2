#include "core/message_record.h"

#include <cassert>
#include <cstring>

namespace bulkq {
namespace {

std::size_t bit_words(std::uint32_t recipients) {
  return (recipients + 63U) / 64U;
}

}  // namespace

// Block layout (8-byte aligned start):
//   uint64_t bits[ceil(n/64)]
//   uint32_t offsets[n + 1]      local part r spans strings[offsets[r], offsets[r+1])
//   char     queue_id[qlen] sender[slen] local parts...
MessageRecord::MessageRecord(MessageId id, MtaKind kind, std::string_view queue_id,
                             std::string_view sender, std::span<const std::string_view> local_parts,
                             TimePoint arrived)
    : id_(id),
      arrived_(arrived),
      next_retry_(arrived),
      recipient_count_(static_cast<std::uint32_t>(local_parts.size())),
      sender_length_(static_cast<std::uint16_t>(sender.size())),
      queue_id_length_(static_cast<std::uint8_t>(queue_id.size())),
      kind_(kind) {
  assert(queue_id.size() <= kMaxQueueIdLength);
  assert(sender.size() <= UINT16_MAX);
  assert(local_parts.size() <= kMaxRecipientsPerMessage);
  std::size_t text = queue_id.size() + sender.size();
  for (std::string_view part : local_parts)
    text += part.size();
  const std::size_t words = bit_words(recipient_count_);
  const std::size_t size =
      words * sizeof(std::uint64_t) + (recipient_count_ + 1U) * sizeof(std::uint32_t) + text;
  block_ = std::make_unique<std::byte[]>(size);  // value-initialised: all bits start clear
  block_size_ = static_cast<std::uint32_t>(size);

  auto* offsets_out =
      reinterpret_cast<std::uint32_t*>(block_.get() + words * sizeof(std::uint64_t));
  char* text_out = reinterpret_cast<char*>(offsets_out + recipient_count_ + 1U);
  std::memcpy(text_out, queue_id.data(), queue_id.size());
  std::memcpy(text_out + queue_id.size(), sender.data(), sender.size());
  std::uint32_t at = static_cast<std::uint32_t>(queue_id.size() + sender.size());
  for (std::uint32_t r = 0; r < recipient_count_; ++r) {
    offsets_out[r] = at;
    std::memcpy(text_out + at, local_parts[r].data(), local_parts[r].size());
    at += static_cast<std::uint32_t>(local_parts[r].size());
  }
  offsets_out[recipient_count_] = at;
}

std::uint64_t* MessageRecord::bits() const {
  return reinterpret_cast<std::uint64_t*>(block_.get());
}

const std::uint32_t* MessageRecord::offsets() const {
  return reinterpret_cast<const std::uint32_t*>(block_.get() + bit_words(recipient_count_) *
                                                                   sizeof(std::uint64_t));
}

const char* MessageRecord::strings() const {
  return reinterpret_cast<const char*>(offsets() + recipient_count_ + 1U);
}

SpoolRef MessageRecord::spool() const {
  if (!block_) return {kind_, {}};
  return {kind_, std::string_view(strings(), queue_id_length_)};
}

std::string_view MessageRecord::sender() const {
  if (!block_) return {};
  return {strings() + queue_id_length_, sender_length_};
}

std::string_view MessageRecord::local_part(RecipientIndex r) const {
  assert(r < recipient_count_);
  const std::uint32_t* off = offsets();
  return {strings() + off[r], off[r + 1] - off[r]};
}

bool MessageRecord::finished(RecipientIndex r) const {
  assert(r < recipient_count_);
  return (bits()[r / 64U] >> (r % 64U)) & 1U;
}

bool MessageRecord::set_finished(RecipientIndex r) {
  assert(r < recipient_count_);
  std::uint64_t& word = bits()[r / 64U];
  const std::uint64_t mask = std::uint64_t{1} << (r % 64U);
  if (word & mask) return false;
  word |= mask;
  ++finished_count_;
  return true;
}

std::span<const std::uint64_t> MessageRecord::finished_bits() const {
  if (!block_) return {};
  return {bits(), bit_words(recipient_count_)};
}

}  // namespace bulkq
