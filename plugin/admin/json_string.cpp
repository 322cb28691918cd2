#include "admin/json_string.h"

#include <cstddef>

namespace bulkq {
namespace {

constexpr std::string_view kReplacement = "\\ufffd";

// How many bytes of `text` from `pos` form one well-formed UTF-8 sequence (Unicode Table 3-7), or
// 0 with `bad` set to the length of the maximal ill-formed subpart (at least 1).
std::size_t utf8_sequence(std::string_view text, std::size_t pos, std::size_t& bad) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  std::size_t length = 0;
  unsigned char low = 0x80;  // the second byte's range; narrower after some leads
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // no overlong forms
    if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
  } else {
    bad = 1;  // ASCII is handled by the caller; 0x80–0xc1 and 0xf5–0xff never start a sequence
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    const std::size_t at = pos + i;
    const unsigned char lo = i == 1 ? low : 0x80;
    const unsigned char hi = i == 1 ? high : 0xbf;
    if (at >= text.size() || byte(at) < lo || byte(at) > hi) {
      bad = i;
      return 0;
    }
  }
  return length;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (u < 0x20 || u == 0x7f) {
            constexpr std::string_view kHex = "0123456789abcdef";
            out += "\\u00";
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
          } else {
            out += c;
          }
      }
      ++pos;
      continue;
    }
    std::size_t bad = 0;
    const std::size_t length = utf8_sequence(text, pos, bad);
    if (length > 0) {
      out.append(text.substr(pos, length));
      pos += length;
    } else {
      out += kReplacement;
      pos += bad;
    }
  }
  out += '"';
}

}  // namespace bulkq
