#include "ctl/json_document.h"

#include <charconv>

namespace bulkq {
namespace {

class DocumentReader {
 public:
  explicit DocumentReader(std::string_view text) : text_(text) {}

  bool read_document(JsonValue& root) {
    skip_whitespace();
    if (!read_value(root, 0)) return false;
    skip_whitespace();
    if (pos_ != text_.size()) return fail("unexpected text after the JSON value");
    return true;
  }

  [[nodiscard]] const std::string& problem() const { return problem_; }

 private:
  bool fail(std::string_view what) {
    if (problem_.empty()) {
      problem_ = std::string(what) + " (at byte " + std::to_string(pos_) + ")";
    }
    return false;
  }

  [[nodiscard]] bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  void skip_whitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  // `depth` counts the arrays and objects around the value.
  bool read_value(JsonValue& value, int depth) {
    if (pos_ >= text_.size()) return fail("the text ends where a value was expected");
    switch (text_[pos_]) {
      case '{':
        return read_object(value, depth + 1);
      case '[':
        return read_array(value, depth + 1);
      case '"':
        value.kind = JsonValue::Kind::string;
        return read_string(value.text);
      case 't':
        value.kind = JsonValue::Kind::boolean;
        value.boolean = true;
        return read_literal("true");
      case 'f':
        value.kind = JsonValue::Kind::boolean;
        return read_literal("false");
      case 'n':
        return read_literal("null");
      default:
        value.kind = JsonValue::Kind::number;
        return read_number(value.text);
    }
  }

  bool read_object(JsonValue& value, int depth) {
    if (depth > kMaxJsonDepth) return fail("nested too deeply");
    value.kind = JsonValue::Kind::object;
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
      if (!read_string(name)) return false;
      skip_whitespace();
      if (!at(':')) return fail("expected ':' after a member name");
      ++pos_;
      skip_whitespace();
      JsonValue member;
      if (!read_value(member, depth)) return false;
      value.names.push_back(std::move(name));
      value.elements.push_back(std::move(member));
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

  bool read_array(JsonValue& value, int depth) {
    if (depth > kMaxJsonDepth) return fail("nested too deeply");
    value.kind = JsonValue::Kind::array;
    ++pos_;  // '['
    skip_whitespace();
    if (at(']')) {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      JsonValue element;
      if (!read_value(element, depth)) return false;
      value.elements.push_back(std::move(element));
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

  bool read_number(std::string& spelling) {
    const std::size_t start = pos_;
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
    spelling.assign(text_.substr(start, pos_ - start));
    return true;
  }

  std::optional<std::uint32_t> read_hex4() {
    if (text_.size() - pos_ < 4) return std::nullopt;
    std::uint32_t value = 0;
    const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    // from_chars would take a sign-less shorter run; all four must be hex digits.
    if (ec != std::errc() || end != text_.data() + pos_ + 4) return std::nullopt;
    pos_ += 4;
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

  bool read_string(std::string& out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= text_.size()) return fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const std::size_t backslash = pos_;
      ++pos_;
      if (pos_ >= text_.size()) return fail("unterminated string");
      const char escape = text_[pos_++];
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          out += escape;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const std::optional<std::uint32_t> unit = read_hex4();
          if (!unit) {
            pos_ = backslash;
            return fail("bad \\u escape");
          }
          std::uint32_t code_point = *unit;
          // A surrogate pair spells one code point above U+FFFF; a lone half becomes U+FFFD.
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
          append_utf8(out, code_point);
          break;
        }
        default:
          pos_ = backslash;
          return fail("bad escape in a string");
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string problem_;
};

// Digits only after an optional '-': no fraction, no exponent.
bool is_whole_number(std::string_view spelling) {
  if (!spelling.empty() && spelling.front() == '-') spelling.remove_prefix(1);
  return !spelling.empty() && spelling.find_first_not_of("0123456789") == std::string_view::npos;
}

template <typename Integer>
std::optional<Integer> whole_number(const JsonValue& value) {
  if (value.kind != JsonValue::Kind::number || !is_whole_number(value.text)) return std::nullopt;
  Integer number = 0;
  const char* first = value.text.data();
  const char* last = first + value.text.size();
  const auto [end, ec] = std::from_chars(first, last, number);
  if (ec != std::errc() || end != last) return std::nullopt;  // out of range, or "-1" unsigned
  return number;
}

}  // namespace

const JsonValue* JsonValue::member(std::string_view name) const {
  if (kind != Kind::object) return nullptr;
  for (std::size_t i = names.size(); i > 0; --i) {
    if (names[i - 1] == name) return &elements[i - 1];
  }
  return nullptr;
}

std::optional<std::uint64_t> JsonValue::as_uint64() const {
  return whole_number<std::uint64_t>(*this);
}

std::optional<std::int64_t> JsonValue::as_int64() const {
  return whole_number<std::int64_t>(*this);
}

JsonDocument parse_json_document(std::string_view text) {
  JsonDocument document;
  DocumentReader reader(text);
  if (!reader.read_document(document.root)) {
    document.root = JsonValue{};
    document.error = reader.problem();
  }
  return document;
}

}  // namespace bulkq
