// MessageRecord: what bulkq keeps in memory about one held message — never its body.
//
// One record holds the spool reference, the envelope sender, the recipients' local parts (their
// domains are the names of the queues their data nodes sit in), the bit vector of finished
// recipients and the retry bookkeeping. Everything variable-sized lives in ONE heap block, because
// at a million queued recipients the per-allocation overhead of separate strings and vectors would
// cost more than the data. Owned by the scheduler thread once handed over; built by a producer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

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

  // Lays out one block: the finished bits, the recipient offsets, then the strings. The caller has
  // validated lengths (MessageBuilder does); this only copies.
  MessageRecord(MessageId id, MtaKind kind, std::string_view queue_id, std::string_view sender,
                std::span<const std::string_view> local_parts, TimePoint arrived);

  MessageRecord(MessageRecord&&) noexcept = default;
  MessageRecord& operator=(MessageRecord&&) noexcept = default;

  [[nodiscard]] bool empty() const { return block_ == nullptr; }
  [[nodiscard]] MessageId id() const { return id_; }
  [[nodiscard]] SpoolRef spool() const;
  [[nodiscard]] std::string_view sender() const;
  [[nodiscard]] std::uint32_t recipient_count() const { return recipient_count_; }
  [[nodiscard]] std::string_view local_part(RecipientIndex r) const;

  [[nodiscard]] bool finished(RecipientIndex r) const;
  // Marks r finished (delivered or bounced); returns false if it already was.
  bool set_finished(RecipientIndex r);
  [[nodiscard]] std::uint32_t finished_count() const { return finished_count_; }
  [[nodiscard]] bool all_finished() const { return finished_count_ == recipient_count_; }
  // The bit vector as stored (bit r of word r/64), for the journal.
  [[nodiscard]] std::span<const std::uint64_t> finished_bits() const;

  [[nodiscard]] MessageState state() const { return state_; }
  void set_state(MessageState s) { state_ = s; }
  [[nodiscard]] std::uint16_t attempts() const { return attempts_; }
  void count_attempt() {
    if (attempts_ != UINT16_MAX) ++attempts_;
  }
  [[nodiscard]] TimePoint arrived() const { return arrived_; }
  [[nodiscard]] TimePoint next_retry() const { return next_retry_; }
  void set_next_retry(TimePoint t) { next_retry_ = t; }

  // Bytes held on the heap for this record (for memory accounting).
  [[nodiscard]] std::size_t heap_bytes() const { return block_size_; }

 private:
  [[nodiscard]] std::uint64_t* bits() const;
  [[nodiscard]] const std::uint32_t* offsets() const;
  [[nodiscard]] const char* strings() const;

  std::unique_ptr<std::byte[]> block_;
  MessageId id_ = 0;
  TimePoint arrived_{};
  TimePoint next_retry_{};
  std::uint32_t recipient_count_ = 0;
  std::uint32_t finished_count_ = 0;
  std::uint32_t block_size_ = 0;
  std::uint16_t sender_length_ = 0;
  std::uint16_t attempts_ = 0;
  std::uint8_t queue_id_length_ = 0;
  MtaKind kind_ = MtaKind::postfix;
  MessageState state_ = MessageState::pending_commit;
};

}  // namespace bulkq
