#include "core/quoted_text.h"

#include <algorithm>

namespace bulkq {

std::string quoted_text(std::string_view text, std::size_t max_shown, NonAscii non_ascii) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_shown) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    const bool unsafe = c < 0x20 || c == 0x7f || (c > 0x7f && non_ascii == NonAscii::escape);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (unsafe) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string plain_or_quoted(std::string_view text, std::size_t max_shown) {
  const bool plain = !text.empty() && text.size() <= max_shown &&
                     std::all_of(text.begin(), text.end(), [](char c) {
                       return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
                     });
  return plain ? std::string(text) : quoted_text(text, max_shown, NonAscii::escape);
}

}  // namespace bulkq
