// A recipient address split into the part bulkq keeps and the domain that names its queue.
//
// Pure parsing of an RFC 5321 path as the MTA hands it over (angle brackets optional). The local
// part is kept byte for byte (it may be quoted or UTF-8); only the domain is normalised.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

// Longest address bulkq accepts (RFC 5321 §4.5.3.1.3 path limit).
inline constexpr std::size_t kMaxAddressLength = 256;
inline constexpr std::size_t kMaxLocalPartLength = 64;

struct SplitAddress {
  std::string local_part;
  std::string domain;  // canonical (see normalise_domain)
  std::string error;   // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Splits at the last '@' outside a quoted string and normalises the domain. Refuses an empty
// local part, a missing domain, control characters and NUL bytes, and over-long addresses.
[[nodiscard]] SplitAddress split_address(std::string_view address);

}  // namespace bulkq
