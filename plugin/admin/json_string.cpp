#include "admin/json_string.h"

#include <cmath>
#include <cstddef>
#include <cstdio>

#include "admin/json_object_writer.h"
#include "core/utf8.h"

namespace bulkq {
namespace {

constexpr std::string_view kReplacement = "\\ufffd";

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
    const std::size_t length = utf8_sequence(text, pos, &bad);
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

void json_member(std::string& out, std::string_view name, std::optional<double> value) {
  json_name(out, name);
  if (value && std::isfinite(*value)) {
    char text[32];
    const int n = std::snprintf(text, sizeof text, "%.6g", *value);
    out.append(text, static_cast<std::size_t>(n));
  } else {
    out += "null";
  }
  out += ',';
}

}  // namespace bulkq
