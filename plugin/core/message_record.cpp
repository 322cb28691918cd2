#include "core/message_record.h"

#include <cassert>
#include <cstring>
#include <new>

namespace bulkq {
namespace {

std::size_t bit_words(std::uint32_t recipients) {
  return (recipients + 63U) / 64U;
}

}  // namespace

MessageRecord::MessageRecord(MessageId id, MtaKind kind, std::string_view queue_id,
                             std::string_view sender, std::span<const std::string_view> local_parts,
                             TimePoint arrived) {
  assert(queue_id.size() <= kMaxQueueIdLength);
  assert(sender.size() <= UINT16_MAX);
  assert(local_parts.size() <= kMaxRecipientsPerMessage);
  const auto n = static_cast<std::uint32_t>(local_parts.size());
  std::size_t text_size = queue_id.size() + sender.size();
  for (std::string_view part : local_parts)
    text_size += part.size();
  const bool wide = text_size > UINT16_MAX;
  const std::size_t offset_width = wide ? sizeof(std::uint32_t) : sizeof(std::uint16_t);
  static_assert(sizeof(Header) == 40, "keep the per-message header small");
  const std::size_t size = sizeof(Header) + bit_words(n) * sizeof(std::uint64_t) +
                           (std::size_t{n} + 1) * offset_width + text_size;
  block_ = static_cast<std::byte*>(std::calloc(1, size));  // zeroed: every bit starts clear
  if (block_ == nullptr) throw std::bad_alloc();

  Header& h = header();
  h.id = id;
  h.arrived = arrived;
  h.next_retry = arrived;
  h.recipient_count = n;
  h.finished_count = 0;
  h.sender_length = static_cast<std::uint16_t>(sender.size());
  h.attempts = 0;
  h.queue_id_length = static_cast<std::uint8_t>(queue_id.size());
  h.kind = kind;
  h.state = MessageState::pending_commit;
  h.wide_offsets = wide;

  char* out = const_cast<char*>(text());
  std::memcpy(out, queue_id.data(), queue_id.size());
  std::memcpy(out + queue_id.size(), sender.data(), sender.size());
  std::size_t at = queue_id.size() + sender.size();
  std::byte* offset_table = offsets();
  for (std::uint32_t r = 0; r <= n; ++r) {
    if (wide) {
      const auto value = static_cast<std::uint32_t>(at);
      std::memcpy(offset_table + r * offset_width, &value, sizeof value);
    } else {
      const auto value = static_cast<std::uint16_t>(at);
      std::memcpy(offset_table + r * offset_width, &value, sizeof value);
    }
    if (r == n) break;
    std::memcpy(out + at, local_parts[r].data(), local_parts[r].size());
    at += local_parts[r].size();
  }
}

std::size_t MessageRecord::heap_bytes() const {
  if (!block_) return 0;
  const std::size_t n = recipient_count();
  return static_cast<std::size_t>(text() - reinterpret_cast<const char*>(block_)) + offset(n);
}

std::byte* MessageRecord::offsets() const {
  return block_ + sizeof(Header) + bit_words(header().recipient_count) * sizeof(std::uint64_t);
}

std::uint32_t MessageRecord::offset(std::uint32_t i) const {
  if (header().wide_offsets) {
    std::uint32_t value;
    std::memcpy(&value, offsets() + i * sizeof value, sizeof value);
    return value;
  }
  std::uint16_t value;
  std::memcpy(&value, offsets() + i * sizeof value, sizeof value);
  return value;
}

const char* MessageRecord::text() const {
  const std::size_t width = header().wide_offsets ? sizeof(std::uint32_t) : sizeof(std::uint16_t);
  return reinterpret_cast<const char*>(offsets() + (header().recipient_count + 1U) * width);
}

SpoolRef MessageRecord::spool() const {
  if (!block_) return {};
  return {header().kind, std::string_view(text(), header().queue_id_length)};
}

std::string_view MessageRecord::sender() const {
  if (!block_) return {};
  return {text() + header().queue_id_length, header().sender_length};
}

std::string_view MessageRecord::local_part(RecipientIndex r) const {
  assert(r < recipient_count());
  const std::uint32_t begin = offset(r);
  return {text() + begin, offset(r + 1) - begin};
}

bool MessageRecord::finished(RecipientIndex r) const {
  assert(r < recipient_count());
  return (bits()[r / 64U] >> (r % 64U)) & 1U;
}

bool MessageRecord::set_finished(RecipientIndex r) {
  assert(r < recipient_count());
  std::uint64_t& word = bits()[r / 64U];
  const std::uint64_t mask = std::uint64_t{1} << (r % 64U);
  if (word & mask) return false;
  word |= mask;
  ++header().finished_count;
  return true;
}

std::span<const std::uint64_t> MessageRecord::finished_bits() const {
  if (!block_) return {};
  return {bits(), bit_words(recipient_count())};
}

}  // namespace bulkq
