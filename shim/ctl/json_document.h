// JsonValue: one JSON document (RFC 8259) read into a tree, as bulkqctl reads bulkqd's replies.
//
// Pure, any thread; bulkqctl's main thread parses one reply. The text is untrusted: the reader is
// strict (no trailing commas, no leading zeros, no control characters in strings, nothing after
// the document), bounded (nesting deeper than kMaxJsonDepth is refused rather than followed, so
// recursion stays bounded) and never throws for bad input: every problem is an error string
// naming the byte offset. The caller bounds the text's length (bulkqctl: its reply limit).
//
// Numbers keep their spelling, so 64-bit counters are read exactly (as_uint64, as_int64), not
// through a double. \u escapes are decoded to UTF-8 (a lone surrogate becomes U+FFFD); raw bytes
// in strings are kept as they are, so text meant for a terminal still needs escaping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkq {

inline constexpr int kMaxJsonDepth = 64;

struct JsonValue {
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

  Kind kind = Kind::null;
  bool boolean = false;             // Kind::boolean
  std::string text;                 // Kind::string: the decoded text; Kind::number: its spelling
  std::vector<JsonValue> elements;  // Kind::array: the elements; Kind::object: member values
  std::vector<std::string> names;   // Kind::object: member names, parallel to elements

  // An object's member of that name (the last one, if the name repeats); null if there is none or
  // this is not an object.
  [[nodiscard]] const JsonValue* member(std::string_view name) const;
  // A number spelled as a whole number without fraction or exponent that fits, else nullopt.
  [[nodiscard]] std::optional<std::uint64_t> as_uint64() const;
  [[nodiscard]] std::optional<std::int64_t> as_int64() const;
};

struct JsonDocument {
  JsonValue root;     // when ok()
  std::string error;  // when !ok(): what is wrong and where, e.g. "unterminated string (at byte 9)"
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] JsonDocument parse_json_document(std::string_view text);

}  // namespace bulkq
