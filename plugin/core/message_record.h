// MessageRecord: what bulkq keeps in memory about one held message — never its body.
//
// One record holds the spool reference, the envelope sender, the recipients' local parts (their
// domains are the names of the queues their data nodes sit in), the bit vector of finished
// recipients and the retry bookkeeping. All of it lives in ONE heap block behind one pointer:
// at a million queued recipients, separate strings and vectors would cost more than the data,
// and completing a batch touches each message once, so one block means one cache miss.
// Move-only. Owned by the scheduler thread once handed over; built by a producer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "core/clock.h"
#include "core/spool_ref.h"

namespace bulkq {

using MessageId = std::uint64_t;       // bulkq's own numeric id: unique, never reused
using RecipientIndex = std::uint32_t;  // position of a recipient within its message

// Data nodes store the recipient index in 24 bits.
inline constexpr std::uint32_t kMaxRecipientsPerMessage = (1U << 24) - 1;

enum class MessageState : std::uint8_t {
  pending_commit,  // the MTA has not yet committed the held file
  queued,          // nodes are queued or in flight
};

class MessageRecord {
 public:
  MessageRecord() = default;

  // Lays out the block. The caller has validated lengths (MessageBuilder does); this only copies.
  MessageRecord(MessageId id, MtaKind kind, std::string_view queue_id, std::string_view sender,
                std::span<const std::string_view> local_parts, TimePoint arrived);

  MessageRecord(MessageRecord&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
  MessageRecord& operator=(MessageRecord&& other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  MessageRecord(const MessageRecord&) = delete;
  MessageRecord& operator=(const MessageRecord&) = delete;
  ~MessageRecord() { std::free(block_); }

  [[nodiscard]] bool empty() const { return block_ == nullptr; }
  void prefetch() const { __builtin_prefetch(block_, 1); }
  [[nodiscard]] MessageId id() const { return header().id; }
  [[nodiscard]] SpoolRef spool() const;
  [[nodiscard]] std::string_view sender() const;
  [[nodiscard]] std::uint32_t recipient_count() const { return header().recipient_count; }
  [[nodiscard]] std::string_view local_part(RecipientIndex r) const;

  [[nodiscard]] bool finished(RecipientIndex r) const;
  // Marks r finished (delivered or bounced); returns false if it already was.
  bool set_finished(RecipientIndex r);
  [[nodiscard]] std::uint32_t finished_count() const { return header().finished_count; }
  [[nodiscard]] bool all_finished() const {
    return header().finished_count == header().recipient_count;
  }
  // The bit vector as stored (bit r of word r/64), for the journal.
  [[nodiscard]] std::span<const std::uint64_t> finished_bits() const;

  [[nodiscard]] MessageState state() const { return header().state; }
  void set_state(MessageState s) { header().state = s; }
  [[nodiscard]] std::uint16_t attempts() const { return header().attempts; }
  void count_attempt() {
    if (header().attempts != UINT16_MAX) ++header().attempts;
  }
  [[nodiscard]] TimePoint arrived() const { return header().arrived; }
  [[nodiscard]] TimePoint next_retry() const { return header().next_retry; }
  void set_next_retry(TimePoint t) { header().next_retry = t; }

  // Bytes of the block (for memory accounting).
  [[nodiscard]] std::size_t heap_bytes() const;

 private:
  // Block layout, 8-byte aligned:
  //   Header | uint64_t bits[ceil(n/64)] | offsets[n + 1] | queue id, sender, local parts
  // Offsets are 16-bit while the text fits in 64 KiB (nearly always), 32-bit beyond.
  struct Header {
    MessageId id;
    TimePoint arrived;
    TimePoint next_retry;
    std::uint32_t recipient_count;
    std::uint32_t finished_count;
    std::uint16_t sender_length;
    std::uint16_t attempts;
    std::uint8_t queue_id_length;
    MtaKind kind;
    MessageState state;
    bool wide_offsets;
  };

  [[nodiscard]] Header& header() const { return *reinterpret_cast<Header*>(block_); }
  [[nodiscard]] std::uint64_t* bits() const {
    return reinterpret_cast<std::uint64_t*>(block_ + sizeof(Header));
  }
  [[nodiscard]] std::byte* offsets() const;
  [[nodiscard]] std::uint32_t offset(std::uint32_t i) const;
  [[nodiscard]] const char* text() const;

  std::byte* block_ = nullptr;
};

}  // namespace bulkq
