// PostfixRecordWriter: builds Postfix queue files byte by byte for the queue-file reader's tests.
//
// Writes records as Postfix does (type byte, base-128 varint length, data), fixed-width `p`
// pointers that can be patched once their target is known, and a `C` size record that can be
// rewritten in place, so a test can lay out envelopes, content, heaps after `E`, chains and loops
// by offset. Test-only; it checks nothing, which is the point: it can write broken files too.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace bulkq::testing {

// The varint length field: 7 bits per byte, least significant group first, high bit = more.
inline std::string postfix_record_length(std::size_t length) {
  std::string out;
  do {
    unsigned char byte = length & 0x7FU;
    length >>= 7;
    if (length != 0) byte |= 0x80U;
    out.push_back(static_cast<char>(byte));
  } while (length != 0);
  return out;
}

inline std::string postfix_record(char type, std::string_view data) {
  return std::string(1, type) + postfix_record_length(data.size()) + std::string(data);
}

// Postfix's "%15ld": right-aligned in 15 characters.
inline std::string postfix_fixed_decimal(std::size_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "%15zu", value);
  return text;
}

class PostfixRecordWriter {
 public:
  // Starts with a `C` record whose content offset points just past it (see set_size), so a file
  // that does not care about the C fields still passes the reader's offset check.
  PostfixRecordWriter() { add('C', size_data(0, kAfterSizeRecord, 0, 0, 0, 0)); }

  // Appends a record; returns the offset of its type byte.
  std::size_t add(char type, std::string_view data = {}) {
    const std::size_t offset = bytes_.size();
    bytes_ += postfix_record(type, data);
    return offset;
  }
  // Appends raw bytes (a broken record, a hand-made length field).
  std::size_t add_raw(std::string_view raw) {
    const std::size_t offset = bytes_.size();
    bytes_ += raw;
    return offset;
  }
  // Appends a `p` record to `target` (0 = the dummy pointer); returns its offset.
  std::size_t add_pointer(std::size_t target) { return add('p', postfix_fixed_decimal(target)); }
  // Re-aims the `p` record at `pointer_offset`.
  void patch_pointer(std::size_t pointer_offset, std::size_t target) {
    bytes_.replace(pointer_offset + 2, 15, postfix_fixed_decimal(target));
  }
  // Rewrites the `C` record in place (its 95 bytes of data keep their size).
  void set_size(std::size_t content_size, std::size_t content_offset, std::size_t recipients,
                std::size_t qmgr_flags = 0, std::size_t content_length = 0,
                std::size_t smtputf8 = 0) {
    bytes_.replace(
        2, 95,
        size_data(content_size, content_offset, recipients, qmgr_flags, content_length, smtputf8));
  }

  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  [[nodiscard]] const std::string& bytes() const { return bytes_; }

 private:
  static constexpr std::size_t kAfterSizeRecord = 97;  // 'C', length 95, 95 bytes of fields

  static std::string size_data(std::size_t a, std::size_t b, std::size_t c, std::size_t d,
                               std::size_t e, std::size_t f) {
    return postfix_fixed_decimal(a) + " " + postfix_fixed_decimal(b) + " " +
           postfix_fixed_decimal(c) + " " + postfix_fixed_decimal(d) + " " +
           postfix_fixed_decimal(e) + " " + postfix_fixed_decimal(f);
  }

  std::string bytes_;
};

}  // namespace bulkq::testing
