#include "journal/journal_record.h"

#include <bit>
#include <cstdio>

namespace bulkq {
namespace {

std::size_t bit_words(std::uint32_t recipients) {
  return (std::size_t{recipients} + 63U) / 64U;
}

// The bits of the last word that lie beyond the recipient count (0 when the count fills it).
std::uint64_t unused_bits_mask(std::uint32_t recipients) {
  const unsigned used = recipients % 64U;
  return used == 0 ? 0 : ~std::uint64_t{0} << used;
}

// 0 pending_commit, 1 queued: spelled out, not cast, so renumbering the enum cannot change
// what is on disk.
std::uint8_t state_byte(MessageState state) {
  return state == MessageState::queued ? 1 : 0;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15U];
  }
  return out;
}

// Queue ids name spool files: printable ASCII, never a path separator.
std::string check_queue_id(std::string_view queue_id) {
  if (queue_id.empty()) return "queue id is empty";
  if (queue_id.size() > kMaxQueueIdLength) {
    return "queue id is " + std::to_string(queue_id.size()) + " bytes, longer than " +
           std::to_string(kMaxQueueIdLength);
  }
  for (std::size_t i = 0; i < queue_id.size(); ++i) {
    const auto b = static_cast<unsigned char>(queue_id[i]);
    if (b < 0x21 || b > 0x7e || b == '/') {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", b);
      return "queue id has byte " + std::string(byte) + " at position " + std::to_string(i) +
             " (expected printable ASCII other than '/')";
    }
  }
  return {};
}

std::string check_recipient_count(std::uint64_t count) {
  if (count > kMaxRecipientsPerMessage) {
    return "recipient count " + std::to_string(count) + " exceeds the limit " +
           std::to_string(kMaxRecipientsPerMessage);
  }
  return {};
}

std::string check_unused_bits(std::uint32_t recipients, std::uint64_t last_word) {
  if ((last_word & unused_bits_mask(recipients)) != 0) {
    return "finished bits are set beyond the recipient count " + std::to_string(recipients);
  }
  return {};
}

void put_u8(std::string& out, std::uint8_t v) {
  out += static_cast<char>(v);
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>(v & 0xffU);
    v >>= 8;
  }
}

std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
  }
  return v;
}

}  // namespace

JournalRecord JournalRecord::with_recipients(std::uint32_t recipient_count) {
  JournalRecord record;
  record.recipient_count = recipient_count;
  record.finished_bits.assign(bit_words(recipient_count), 0);
  return record;
}

std::uint32_t JournalRecord::finished_count() const {
  std::uint32_t count = 0;
  for (std::uint64_t word : finished_bits)
    count += static_cast<std::uint32_t>(std::popcount(word));
  return count;
}

JournalRecord make_journal_record(const MessageRecord& message) {
  JournalRecord record;
  record.state = message.state();
  const SpoolRef spool = message.spool();
  record.kind = spool.kind;
  record.queue_id = std::string(spool.queue_id);
  record.recipient_count = message.recipient_count();
  record.attempts = message.attempts();
  record.first_seen = message.arrived();
  record.next_retry = message.next_retry();
  const auto bits = message.finished_bits();
  record.finished_bits.assign(bits.begin(), bits.end());
  return record;
}

std::string check_journal_record(const JournalRecord& record) {
  if (std::string e = check_queue_id(record.queue_id); !e.empty()) return e;
  if (std::string e = check_recipient_count(record.recipient_count); !e.empty()) return e;
  if (record.finished_bits.size() != bit_words(record.recipient_count)) {
    return "finished bit vector has " + std::to_string(record.finished_bits.size()) + " words, " +
           std::to_string(bit_words(record.recipient_count)) + " expected for " +
           std::to_string(record.recipient_count) + " recipients";
  }
  if (!record.finished_bits.empty()) {
    return check_unused_bits(record.recipient_count, record.finished_bits.back());
  }
  return {};
}

EncodedJournalRecord encode_journal_record(const JournalRecord& record) {
  EncodedJournalRecord out;
  out.error = check_journal_record(record);
  if (!out.ok()) return out;
  std::string& b = out.bytes;
  b.reserve(kJournalRecordFixedBytes + record.queue_id.size() + 8 * record.finished_bits.size());
  put_u8(b, kJournalRecordVersion);
  put_u8(b, state_byte(record.state));
  put_u8(b, static_cast<std::uint8_t>(record.kind));
  put_u8(b, static_cast<std::uint8_t>(record.queue_id.size()));
  b += record.queue_id;
  put_le(b, record.recipient_count, 4);
  put_le(b, record.attempts, 2);
  put_le(b, static_cast<std::uint64_t>(record.first_seen.time_since_epoch().count()), 8);
  put_le(b, static_cast<std::uint64_t>(record.next_retry.time_since_epoch().count()), 8);
  for (std::uint64_t word : record.finished_bits)
    put_le(b, word, 8);
  return out;
}

DecodedJournalRecord decode_journal_record(std::string_view in) {
  DecodedJournalRecord out;
  if (in.empty()) {
    out.error = "journal record is empty";
    return out;
  }
  // The version first: a newer bulkq's record may have any layout, and saying so is clearer
  // than complaining about its length.
  const auto version = static_cast<std::uint8_t>(in[0]);
  if (version != kJournalRecordVersion) {
    out.error = "journal record has format version " + std::to_string(version) +
                "; this bulkq reads version " + std::to_string(kJournalRecordVersion);
    return out;
  }
  if (in.size() < 4) {
    out.error = "journal record is truncated: " + std::to_string(in.size()) +
                " bytes, shorter than its 4-byte header";
    return out;
  }
  JournalRecord& r = out.record;
  switch (static_cast<std::uint8_t>(in[1])) {
    case 0:
      r.state = MessageState::pending_commit;
      break;
    case 1:
      r.state = MessageState::queued;
      break;
    default:
      out.error = "journal record has unknown state " +
                  std::to_string(static_cast<unsigned char>(in[1])) +
                  " (expected 0 pending_commit or 1 queued)";
      return out;
  }
  const auto kind = static_cast<std::uint8_t>(in[2]);
  if (kind < static_cast<std::uint8_t>(MtaKind::postfix) ||
      kind > static_cast<std::uint8_t>(MtaKind::exim)) {
    out.error = "journal record has unknown MTA kind " + std::to_string(kind) +
                " (expected 1 postfix, 2 sendmail or 3 exim)";
    return out;
  }
  r.kind = static_cast<MtaKind>(kind);
  const std::size_t queue_id_length = static_cast<unsigned char>(in[3]);
  if (queue_id_length == 0 || queue_id_length > kMaxQueueIdLength) {
    out.error = "journal record has queue id length " + std::to_string(queue_id_length) +
                " (expected 1 to " + std::to_string(kMaxQueueIdLength) + ")";
    return out;
  }
  const std::size_t fixed_end = 4 + queue_id_length + (kJournalRecordFixedBytes - 4);
  if (in.size() < fixed_end) {
    out.error = "journal record is truncated: " + std::to_string(in.size()) + " bytes, its " +
                "fields before the bit vector need " + std::to_string(fixed_end);
    return out;
  }
  const std::string_view queue_id = in.substr(4, queue_id_length);
  if (std::string e = check_queue_id(queue_id); !e.empty()) {
    out.error = "journal record " + e;
    return out;
  }
  std::size_t at = 4 + queue_id_length;
  const std::uint64_t count = get_le(in, at, 4);
  if (std::string e = check_recipient_count(count); !e.empty()) {
    out.error = "journal record " + e;
    return out;
  }
  r.recipient_count = static_cast<std::uint32_t>(count);
  const std::size_t words = bit_words(r.recipient_count);
  const std::size_t expected = fixed_end + 8 * words;
  if (in.size() != expected) {
    out.error = "journal record is " + std::to_string(in.size()) + " bytes; " +
                std::to_string(expected) + " expected for " + std::to_string(count) + " recipients";
    return out;
  }
  r.queue_id = std::string(queue_id);
  r.attempts = static_cast<std::uint16_t>(get_le(in, at + 4, 2));
  r.first_seen = TimePoint{Duration{static_cast<std::int64_t>(get_le(in, at + 6, 8))}};
  r.next_retry = TimePoint{Duration{static_cast<std::int64_t>(get_le(in, at + 14, 8))}};
  at = fixed_end;
  r.finished_bits.resize(words);
  for (std::size_t w = 0; w < words; ++w, at += 8)
    r.finished_bits[w] = get_le(in, at, 8);
  if (words > 0) {
    if (std::string e = check_unused_bits(r.recipient_count, r.finished_bits.back()); !e.empty()) {
      out.error = "journal record " + e;
      return out;
    }
  }
  return out;
}

std::array<char, kJournalKeyBytes> encode_journal_key(MessageId id) {
  std::array<char, kJournalKeyBytes> key{};
  for (std::size_t i = 0; i < kJournalKeyBytes; ++i)
    key[i] = static_cast<char>((id >> (8 * (kJournalKeyBytes - 1 - i))) & 0xffU);
  return key;
}

DecodedJournalKey decode_journal_key(std::string_view bytes) {
  DecodedJournalKey out;
  if (bytes.size() != kJournalKeyBytes) {
    out.error = "journal key is " + std::to_string(bytes.size()) + " bytes (expected " +
                std::to_string(kJournalKeyBytes) + "): " + hex(bytes.substr(0, 64));
    return out;
  }
  for (char c : bytes)
    out.id = (out.id << 8) | static_cast<unsigned char>(c);
  return out;
}

}  // namespace bulkq
