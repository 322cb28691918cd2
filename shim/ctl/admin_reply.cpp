#include "ctl/admin_reply.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace bulkq {
namespace {

// Deeper replies are refused rather than followed: the daemon's replies nest a few levels.
constexpr int kMaxDepth = 64;

// A strict RFC 8259 reader over one line. It keeps only what the caller asks for: the top-level
// object's "ok" value and "error" string.
class ReplyReader {
 public:
  explicit ReplyReader(std::string_view text) : text_(text) {}

  // Reads the whole text as one JSON object. False, with problem() set, if it is not one.
  bool read_top_level_object() {
    skip_whitespace();
    if (!at('{')) return fail("the reply is not a JSON object");
    if (!read_object(0, true)) return false;
    skip_whitespace();
    if (pos_ != text_.size()) return fail("unexpected text after the JSON object");
    return true;
  }

  [[nodiscard]] const std::string& problem() const { return problem_; }
  // The top-level "ok" member, as the last one spelled it.
  enum class OkMember : std::uint8_t { absent, is_true, is_false, not_boolean };
  [[nodiscard]] OkMember ok_member() const { return ok_; }
  [[nodiscard]] const std::optional<std::string>& error_member() const { return error_; }

 private:
  bool fail(std::string what) {
    if (problem_.empty()) problem_ = what + " (at byte " + std::to_string(pos_) + ")";
    return false;
  }

  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  void skip_whitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool read_value(int depth) {
    skip_whitespace();
    if (pos_ >= text_.size()) return fail("the reply ends where a value was expected");
    switch (text_[pos_]) {
      case '{':
        return read_object(depth + 1, false);
      case '[':
        return read_array(depth + 1);
      case '"':
        return read_string(nullptr);
      case 't':
        return read_literal("true");
      case 'f':
        return read_literal("false");
      case 'n':
        return read_literal("null");
      default:
        return read_number();
    }
  }

  bool read_object(int depth, bool top_level) {
    if (depth > kMaxDepth) return fail("the reply nests too deeply");
    ++pos_;  // '{'
    skip_whitespace();
    if (at('}')) {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (!at('"')) return fail("expected a member name");
      std::string name;
      if (!read_string(&name)) return false;
      skip_whitespace();
      if (!at(':')) return fail("expected ':' after a member name");
      ++pos_;
      skip_whitespace();
      if (top_level && name == "ok") {
        if (text_.substr(pos_, 4) == "true") {
          ok_ = OkMember::is_true;
        } else if (text_.substr(pos_, 5) == "false") {
          ok_ = OkMember::is_false;
        } else {
          ok_ = OkMember::not_boolean;
        }
      }
      if (top_level && name == "error" && at('"')) {
        std::string error;
        if (!read_string(&error)) return false;
        error_ = std::move(error);
      } else if (!read_value(depth)) {
        return false;
      }
      skip_whitespace();
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (at('}')) {
        ++pos_;
        return true;
      }
      return fail("expected ',' or '}' in an object");
    }
  }

  bool read_array(int depth) {
    if (depth > kMaxDepth) return fail("the reply nests too deeply");
    ++pos_;  // '['
    skip_whitespace();
    if (at(']')) {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!read_value(depth)) return false;
      skip_whitespace();
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (at(']')) {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  bool read_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return fail("unexpected character");
    pos_ += word.size();
    return true;
  }

  bool read_digits() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  bool read_number() {
    if (at('-')) ++pos_;
    if (at('0')) {
      ++pos_;
    } else if (!read_digits()) {
      return fail("unexpected character");
    }
    if (at('.')) {
      ++pos_;
      if (!read_digits()) return fail("expected digits after '.'");
    }
    if (at('e') || at('E')) {
      ++pos_;
      if (at('+') || at('-')) ++pos_;
      if (!read_digits()) return fail("expected digits in an exponent");
    }
    return true;
  }

  std::optional<std::uint32_t> read_hex4() {
    if (text_.size() - pos_ < 4) return std::nullopt;
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return value;
  }

  static void append_utf8(std::string& out, std::uint32_t code_point) {
    if (code_point < 0x80) {
      out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
      out += static_cast<char>(0xc0 | (code_point >> 6));
      out += static_cast<char>(0x80 | (code_point & 0x3f));
    } else if (code_point < 0x10000) {
      out += static_cast<char>(0xe0 | (code_point >> 12));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code_point & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code_point >> 18));
      out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code_point & 0x3f));
    }
  }

  // Reads a string; its decoded text goes to `out` when not null.
  bool read_string(std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= text_.size()) return fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        if (out != nullptr) *out += c;
        continue;
      }
      if (pos_ >= text_.size()) return fail("unterminated string");
      const std::size_t backslash = pos_ - 1;  // where errors in the escape point
      const char escape = text_[pos_++];
      char plain = 0;
      switch (escape) {
        case '"':
          plain = '"';
          break;
        case '\\':
          plain = '\\';
          break;
        case '/':
          plain = '/';
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u': {
          std::optional<std::uint32_t> unit = read_hex4();
          if (!unit) {
            pos_ = backslash;
            return fail("bad \\u escape");
          }
          std::uint32_t code_point = *unit;
          // A UTF-16 surrogate pair spells one code point above U+FFFF; a lone half becomes
          // U+FFFD rather than an error, as most JSON readers do.
          if (code_point >= 0xd800 && code_point <= 0xdbff && text_.substr(pos_, 2) == "\\u") {
            const std::size_t saved = pos_;
            pos_ += 2;
            const std::optional<std::uint32_t> low = read_hex4();
            if (low && *low >= 0xdc00 && *low <= 0xdfff) {
              code_point = 0x10000 + ((code_point - 0xd800) << 10) + (*low - 0xdc00);
            } else {
              pos_ = saved;
            }
          }
          if (code_point >= 0xd800 && code_point <= 0xdfff) code_point = 0xfffd;
          if (out != nullptr) append_utf8(*out, code_point);
          continue;
        }
        default:
          pos_ = backslash;
          return fail("bad escape in a string");
      }
      if (out != nullptr) *out += plain;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string problem_;
  OkMember ok_ = OkMember::absent;
  std::optional<std::string> error_;
};

// Control characters become "\xNN": the text goes to a terminal.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      std::array<char, 5> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\x%02x", u);
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out;
}

AdminReplyStatus failed(std::string error) {
  return {false, std::move(error)};
}

}  // namespace

AdminReplyStatus read_admin_reply_status(std::string_view reply) {
  ReplyReader reader(reply);
  if (!reader.read_top_level_object()) return failed("malformed reply: " + reader.problem());
  switch (reader.ok_member()) {
    case ReplyReader::OkMember::is_true:
      return {true, {}};
    case ReplyReader::OkMember::absent:
      return failed("malformed reply: it has no \"ok\" member");
    case ReplyReader::OkMember::not_boolean:
      return failed("malformed reply: \"ok\" is not true or false");
    case ReplyReader::OkMember::is_false:
      break;
  }
  if (reader.error_member() && !reader.error_member()->empty()) {
    return failed(printable(*reader.error_member()));
  }
  return failed("the request failed (the reply gives no reason)");
}

}  // namespace bulkq
