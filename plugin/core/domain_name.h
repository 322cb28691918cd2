// Domain names as queue keys.
//
// Every destination domain is reduced to one canonical spelling before it names a queue, so
// "Example.COM", "example.com." and "EXAMPLE.com" share a queue and an IDN shares its queue with
// its A-label form ("bücher.de" → "xn--bcher-kva.de"). Address literals ("[192.0.2.1]",
// "[IPv6:2001:db8::1]") are kept as literals. Pure: no I/O, no global state.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

struct DomainNameResult {
  std::string canonical;  // set when ok()
  std::string error;      // set when !ok(): says what is wrong, for a log line or an SMTP reply
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// RFC 1035 / 5321 limits the normaliser enforces.
inline constexpr std::size_t kMaxDomainLength = 253;
inline constexpr std::size_t kMaxLabelLength = 63;

// Lower-cases, drops one trailing dot, converts U-labels to A-labels (IDNA2008 via libidn2),
// and checks the result is a usable host name (letters, digits, hyphens; no empty labels; no label
// starting or ending with a hyphen; length limits) or a well-formed address literal.
[[nodiscard]] DomainNameResult normalise_domain(std::string_view domain);

}  // namespace bulkq
