// xtext encoding (RFC 3461 §4): see xtext.h. Pure.
#include "delivery/xtext.h"

namespace bulkq {

std::string xtext_encode(std::string_view bytes) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 33 && byte <= 126 && c != '+' && c != '=') {
      out += c;
    } else {
      out += '+';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
  }
  return out;
}

}  // namespace bulkq
