#include "postfix/marker_header.h"

#include <charconv>
#include <cstddef>
#include <string>
#include <system_error>

#include "postfix/content_cursor.h"
#include "spool/spool_adapter.h"

namespace bulkq {

namespace {

constexpr std::size_t kMaxMarkerDigits = 20;  // UINT64_MAX has 20 digits

bool is_space_or_tab(char c) {
  return c == ' ' || c == '\t';
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Length of the field name when `line` is a header field ("Name:" or "Name<WSP>:"), else 0.
// Name characters are printable ASCII except the colon (RFC 5322 ftext), as Postfix's
// is_header() accepts them.
std::size_t header_name_length(std::string_view line) {
  std::size_t name = 0;
  while (name < line.size()) {
    const auto c = static_cast<unsigned char>(line[name]);
    if (c == ':' || c <= 32 || c >= 127) break;
    ++name;
  }
  if (name == 0) return 0;
  std::size_t colon = name;
  while (colon < line.size() && is_space_or_tab(line[colon]))
    ++colon;
  return colon < line.size() && line[colon] == ':' ? name : 0;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

}  // namespace

std::optional<MessageId> parse_marker_value(std::string_view value) {
  const std::string_view digits = trim(value);
  if (digits.empty() || digits.size() > kMaxMarkerDigits) return std::nullopt;
  // from_chars on an unsigned type takes digits only (no sign, no spaces) and reports overflow.
  MessageId id = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc{} || end != digits.data() + digits.size() || id == 0) return std::nullopt;
  return id;
}

HeaderScanner::LineKind HeaderScanner::classify(std::string_view line) {
  if (!in_headers_) return LineKind::body;
  if (line.empty()) {
    in_headers_ = false;
    in_marker_ = false;
    return LineKind::header_end;
  }
  if (is_space_or_tab(line.front())) {
    return in_marker_ ? LineKind::marker_continued : LineKind::header;
  }
  const std::size_t name = header_name_length(line);
  if (name == 0) {  // not a header: the body starts without a separator line
    in_headers_ = false;
    in_marker_ = false;
    return LineKind::body;
  }
  in_marker_ = equals_ignoring_case(line.substr(0, name), kMarkerHeaderName);
  return in_marker_ ? LineKind::marker_start : LineKind::header;
}

std::string_view marker_field_value(std::string_view line) {
  const std::size_t colon = line.find(':');
  return colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
}

std::optional<MessageId> find_marker(std::string_view file, const PostfixQueueFile& parsed) {
  std::optional<MessageId> found;
  std::string value;  // the current marker field, unfolded
  bool collecting = false;
  const auto finish_field = [&] {
    if (!collecting) return;
    collecting = false;
    if (const std::optional<MessageId> id = parse_marker_value(value)) found = id;
  };

  HeaderScanner scanner;
  ContentCursor cursor(file, parsed);
  while (scanner.in_headers() && cursor.next()) {
    switch (scanner.classify(cursor.line())) {
      case HeaderScanner::LineKind::marker_start:
        finish_field();
        value.assign(marker_field_value(cursor.line()));
        collecting = true;
        break;
      case HeaderScanner::LineKind::marker_continued:
        // Unfolding removes only the line break: the leading whitespace stays, so "1\n 2" is
        // "1 2", which is not a well-formed id.
        value.append(cursor.line());
        break;
      case HeaderScanner::LineKind::header:
      case HeaderScanner::LineKind::header_end:
      case HeaderScanner::LineKind::body:
        finish_field();
        break;
    }
  }
  finish_field();  // the content ended inside the header section
  return found;
}

}  // namespace bulkq
