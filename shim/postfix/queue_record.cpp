#include "postfix/queue_record.h"

#include <cstdint>
#include <cstdio>

namespace bulkq {

namespace {

std::string at(std::size_t offset) {
  return "offset " + std::to_string(offset) + ": ";
}

}  // namespace

QueueRecordResult decode_queue_record(std::string_view file, std::size_t offset) {
  QueueRecordResult result;
  if (offset >= file.size()) {
    result.error = at(offset) + "record starts at or past the end of the file (size " +
                   std::to_string(file.size()) + ")";
    return result;
  }
  const char type = file[offset];
  std::size_t pos = offset + 1;
  std::uint64_t length = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == kMaxQueueRecordLengthBytes) {
      result.error = at(offset) + "record type " + describe_queue_record_type(type) +
                     ": length field is longer than " + std::to_string(kMaxQueueRecordLengthBytes) +
                     " bytes";
      return result;
    }
    if (pos >= file.size()) {
      result.error = at(offset) + "record type " + describe_queue_record_type(type) +
                     ": length field runs past the end of the file (size " +
                     std::to_string(file.size()) + ")";
      return result;
    }
    const auto byte = static_cast<unsigned char>(file[pos++]);
    length |= static_cast<std::uint64_t>(byte & 0x7FU) << (7 * i);
    if ((byte & 0x80U) == 0) break;
  }
  if (length > kMaxQueueRecordLength) {
    result.error = at(offset) + "record type " + describe_queue_record_type(type) + ": length " +
                   std::to_string(length) + " exceeds the limit of " +
                   std::to_string(kMaxQueueRecordLength) + " bytes";
    return result;
  }
  if (length > file.size() - pos) {
    result.error = at(offset) + "record type " + describe_queue_record_type(type) +
                   " with length " + std::to_string(length) +
                   " runs past the end of the file (size " + std::to_string(file.size()) + ")";
    return result;
  }
  result.record.type = type;
  result.record.offset = offset;
  result.record.data = file.substr(pos, static_cast<std::size_t>(length));
  result.record.next_offset = pos + static_cast<std::size_t>(length);
  return result;
}

bool is_known_queue_record_type(char type) {
  // rec_type.h, Postfix 3.7: envelope "MCTcFILSDRO/WVA>K<ion", content "XLNw", extracted
  // "EDRO/PreAFIL>Kon", plus p (pointer), f (cleanup flags), d (delay) and m (milter count).
  static constexpr std::string_view kKnown = "CTcFILSDRO/WVA>K<ionfdMXNwPreEpm";
  return type != '\0' && kKnown.find(type) != std::string_view::npos;
}

std::string describe_queue_record_type(char type) {
  const auto byte = static_cast<unsigned char>(type);
  if (byte > 0x20 && byte < 0x7F && byte != '\'') return std::string{'\'', type, '\''};
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", byte);
  return hex;
}

}  // namespace bulkq
