#include "ctl/terminal_text.h"

#include <array>
#include <cstdio>

#include "core/utf8.h"

namespace bulkq {

std::string terminal_safe(std::string_view text) {
  std::string out;
  const auto hex = [&out](unsigned char u) {
    std::array<char, 5> escaped{};
    std::snprintf(escaped.data(), escaped.size(), "\\x%02x", u);
    out += escaped.data();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x80) {
      if (u < 0x20 || u == 0x7f) {
        hex(u);
      } else {
        out += text[i];
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence(text, i);
    bool valid = length > 0;
    // U+0080–U+009F, the C1 controls, are C2 80 – C2 9F.
    if (valid && u == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f) valid = false;
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      hex(u);
      ++i;
    }
  }
  return out;
}

}  // namespace bulkq
