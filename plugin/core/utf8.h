// utf8_sequence: how many bytes form one well-formed UTF-8 sequence (RFC 3629, Unicode Table 3-7:
// no overlong forms, no surrogates, nothing above U+10FFFF) — the one check behind the config
// file guard, the JSON writer and bulkqctl's terminal output.
#pragma once

#include <cstddef>
#include <string_view>

namespace bulkq {

// The length (1 for ASCII, 2 to 4) of the well-formed sequence starting at text[pos], or 0 when
// the bytes there are ill-formed; then `bad` (when given) is the length of the maximal ill-formed
// subpart, at least 1 (what a decoder replaces with one U+FFFD). `pos` must be < text.size().
[[nodiscard]] inline std::size_t utf8_sequence(std::string_view text, std::size_t pos,
                                               std::size_t* bad = nullptr) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return 1;
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
    if (bad != nullptr) *bad = 1;  // 0x80–0xc1 and 0xf5–0xff never start a sequence
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    const std::size_t at = pos + i;
    const unsigned char lo = i == 1 ? low : 0x80;
    const unsigned char hi = i == 1 ? high : 0xbf;
    if (at >= text.size() || byte(at) < lo || byte(at) > hi) {
      if (bad != nullptr) *bad = i;
      return 0;
    }
  }
  return length;
}

}  // namespace bulkq
