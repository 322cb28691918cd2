// Reads EHLO keywords into EhloCapabilities: see ehlo_capabilities.h. Pure.
#include "delivery/ehlo_capabilities.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

namespace bulkq {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

char to_upper_ascii(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_upper_ascii(a[i]) != upper[i]) return false;
  }
  return true;
}

// Splits `text` at spaces and tabs, calling `word` for each non-empty word.
template <typename WordFn>
void for_each_word(std::string_view text, WordFn word) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_space(text[pos]))
      ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && !is_space(text[pos]))
      ++pos;
    if (pos > start) word(text.substr(start, pos - start));
  }
}

std::string_view first_word(std::string_view text) {
  std::string_view found;
  bool done = false;
  for_each_word(text, [&](std::string_view w) {
    if (!done) found = w;
    done = true;
  });
  return found;
}

// A decimal number that fits in uint64, or nullopt.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

void add_auth_mechanism(std::string_view name, std::vector<std::string>& mechanisms) {
  if (mechanisms.size() >= kMaxAuthMechanisms) return;
  if (name.empty() || name.size() > kMaxAuthMechanismLength) return;
  std::string upper;
  for (const char c : name) {
    const char u = to_upper_ascii(c);
    const bool valid = (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' || u == '_';
    if (!valid) return;
    upper += u;
  }
  if (std::find(mechanisms.begin(), mechanisms.end(), upper) == mechanisms.end()) {
    mechanisms.push_back(std::move(upper));
  }
}

void read_keyword_line(std::string_view line, EhloCapabilities& caps) {
  std::string_view keyword;
  std::string_view params;
  {
    std::size_t pos = 0;
    while (pos < line.size() && is_space(line[pos]))
      ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && !is_space(line[pos]))
      ++pos;
    keyword = line.substr(start, pos - start);
    params = line.substr(pos);
  }
  // Pre-RFC 2554 servers (old Exchange, some appliances) still say "AUTH=LOGIN PLAIN".
  if (keyword.size() > 5 && equals_ignoring_case(keyword.substr(0, 5), "AUTH=")) {
    add_auth_mechanism(keyword.substr(5), caps.auth_mechanisms);
    for_each_word(params, [&](std::string_view w) { add_auth_mechanism(w, caps.auth_mechanisms); });
    return;
  }
  if (equals_ignoring_case(keyword, "PIPELINING")) {
    caps.pipelining = true;
  } else if (equals_ignoring_case(keyword, "STARTTLS")) {
    caps.starttls = true;
  } else if (equals_ignoring_case(keyword, "SIZE")) {
    caps.size = true;
    const std::optional<std::uint64_t> limit = parse_decimal(first_word(params));
    caps.size_limit = (limit && *limit > 0) ? limit : std::nullopt;
  } else if (equals_ignoring_case(keyword, "8BITMIME")) {
    caps.eight_bit_mime = true;
  } else if (equals_ignoring_case(keyword, "SMTPUTF8")) {
    caps.smtputf8 = true;
  } else if (equals_ignoring_case(keyword, "ENHANCEDSTATUSCODES")) {
    caps.enhanced_status_codes = true;
  } else if (equals_ignoring_case(keyword, "CHUNKING")) {
    caps.chunking = true;
  } else if (equals_ignoring_case(keyword, "DSN")) {
    caps.dsn = true;
  } else if (equals_ignoring_case(keyword, "AUTH")) {
    for_each_word(params, [&](std::string_view w) { add_auth_mechanism(w, caps.auth_mechanisms); });
  }
  // Anything else (XCLIENT, ETRN, VRFY, X-EXPS, BINARYMIME, ...) is not used by bulkq.
}

}  // namespace

EhloCapabilitiesResult parse_ehlo_capabilities(const SmtpReply& reply) {
  EhloCapabilitiesResult result;
  if (reply.code != 250) {
    result.error = "EHLO answered with " + std::to_string(reply.code) + ", not 250";
    return result;
  }
  if (reply.lines.empty()) return result;
  const std::string_view domain = first_word(reply.lines.front());
  if (domain.size() <= kMaxGreetingDomainLength) result.capabilities.greeting_domain = domain;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    read_keyword_line(reply.lines[i], result.capabilities);
  }
  return result;
}

}  // namespace bulkq
