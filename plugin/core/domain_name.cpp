#include "core/domain_name.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

namespace bulkq {
namespace {

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

DomainNameResult failure(std::string message) {
  return {{}, std::move(message)};
}

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3). General address literals are refused:
// nothing could route them.
DomainNameResult normalise_literal(std::string_view literal) {
  if (literal.size() < 3 || literal.back() != ']') return failure("unterminated address literal");
  std::string inner(literal.substr(1, literal.size() - 2));
  std::array<unsigned char, 16> buffer{};
  if (inner.size() > 5 && std::equal(inner.begin(), inner.begin() + 5,
                                     "ipv6:", [](char a, char b) { return ascii_lower(a) == b; })) {
    const std::string address = inner.substr(5);
    if (inet_pton(AF_INET6, address.c_str(), buffer.data()) != 1) {
      return failure("invalid IPv6 address literal");
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    inet_ntop(AF_INET6, buffer.data(), text.data(), text.size());
    return {"[IPv6:" + std::string(text.data()) + "]", {}};
  }
  if (inet_pton(AF_INET, inner.c_str(), buffer.data()) != 1) {
    return failure("invalid IPv4 address literal");
  }
  return {"[" + inner + "]", {}};
}

// Checks an all-ASCII, lower-cased name label by label.
std::string check_host_name(std::string_view name) {
  if (name.empty()) return "empty domain";
  if (name.size() > kMaxDomainLength) return "domain longer than 253 characters";
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "empty label in domain";
    if (label.size() > kMaxLabelLength) return "domain label longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "domain label starts or ends with '-'";
    for (char c : label) {
      if (!is_ldh(c)) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          return "control character in domain";
        }
        return std::string("invalid character '") + c + "' in domain";
      }
    }
    start = dot + 1;
  }
  return {};
}

}  // namespace

DomainNameResult normalise_domain(std::string_view domain) {
  if (domain.empty()) return failure("empty domain");
  if (domain.front() == '[') return normalise_literal(domain);
  if (domain.back() == '.') domain.remove_suffix(1);
  if (domain.size() > 4 * kMaxDomainLength) return failure("domain longer than 253 characters");
  if (domain.find('\0') != std::string_view::npos) return failure("NUL byte in domain");

  std::string ascii;
  if (is_ascii(domain)) {
    ascii.resize(domain.size());
    std::transform(domain.begin(), domain.end(), ascii.begin(), ascii_lower);
  }
  // Non-ASCII input, and ASCII that claims to be an A-label, go through IDNA2008 so both spellings
  // meet in one key and a broken "xn--" label is refused rather than queued.
  if (ascii.empty() || ascii.find("xn--") != std::string::npos) {
    const std::string input(domain);
    char* converted = nullptr;
    const int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()),
                                  reinterpret_cast<uint8_t**>(&converted),
                                  IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    std::unique_ptr<char, decltype(&idn2_free)> owned(converted, &idn2_free);
    if (rc != IDN2_OK) {
      return failure(std::string("invalid internationalised domain: ") + idn2_strerror(rc));
    }
    ascii.assign(owned.get());
    std::transform(ascii.begin(), ascii.end(), ascii.begin(), ascii_lower);
  }
  if (std::string problem = check_host_name(ascii); !problem.empty()) {
    return failure(std::move(problem));
  }
  return {std::move(ascii), {}};
}

}  // namespace bulkq
