#include "intake/client_network.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>

#include "core/quoted_text.h"

namespace bulkq {
namespace {

struct ParsedAddress {
  AddressFamily family = AddressFamily::ipv4;
  std::array<std::uint8_t, 16> bytes{};
};

constexpr unsigned max_prefix(AddressFamily family) {
  return family == AddressFamily::ipv4 ? 32 : 128;
}

// inet_pton needs a NUL-terminated string, so text holding a NUL byte is refused first.
std::optional<ParsedAddress> parse_address(std::string_view text) {
  if (text.empty() || text.size() > kMaxClientNetworkLength ||
      text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string terminated(text);
  ParsedAddress parsed;
  if (::inet_pton(AF_INET, terminated.c_str(), parsed.bytes.data()) == 1) {
    parsed.family = AddressFamily::ipv4;
    return parsed;
  }
  if (::inet_pton(AF_INET6, terminated.c_str(), parsed.bytes.data()) == 1) {
    parsed.family = AddressFamily::ipv6;
    return parsed;
  }
  return std::nullopt;
}

// The leading `prefix_length` bits of a and b are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned prefix_length) {
  const unsigned whole_bytes = prefix_length / 8;
  if (!std::equal(a, a + whole_bytes, b)) return false;
  const unsigned rest = prefix_length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole_bytes] & mask) == (b[whole_bytes] & mask);
}

bool host_bits_clear(const ParsedAddress& address, unsigned prefix_length) {
  const std::size_t size = address.family == AddressFamily::ipv4 ? 4 : 16;
  for (std::size_t i = 0; i < size; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    std::uint8_t host_mask = 0xff;
    if (first_bit + 8 <= prefix_length) {
      host_mask = 0;
    } else if (first_bit < prefix_length) {
      host_mask = static_cast<std::uint8_t>(0xff >> (prefix_length - first_bit));
    }
    if ((address.bytes[i] & host_mask) != 0) return false;
  }
  return true;
}

std::string address_text(const ParsedAddress& address) {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  const int family = address.family == AddressFamily::ipv4 ? AF_INET : AF_INET6;
  if (::inet_ntop(family, address.bytes.data(), buffer.data(), buffer.size()) == nullptr) {
    return "?";  // cannot happen: the buffer fits every address
  }
  return buffer.data();
}

// "::ffff:a.b.c.d" carries an IPv4 address in its last four bytes.
bool is_ipv4_mapped(const ParsedAddress& address) {
  constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return address.family == AddressFamily::ipv6 &&
         std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
}

ClientNetworkResult failure(std::string error) {
  ClientNetworkResult result;
  result.error = std::move(error);
  return result;
}

}  // namespace

ClientNetworkResult parse_client_network(std::string_view text) {
  const std::string shown = quoted_text(text, 80, NonAscii::escape);
  if (text.empty()) return failure("empty network");
  if (text.size() > kMaxClientNetworkLength) {
    return failure(shown + " is too long for a network (at most " +
                   std::to_string(kMaxClientNetworkLength) + " bytes)");
  }
  const std::size_t slash = text.find('/');
  const std::string_view address_part = text.substr(0, slash);
  const std::optional<ParsedAddress> address = parse_address(address_part);
  if (!address) {
    return failure(shown + " is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or " +
                   "2001:db8::/32)");
  }
  const unsigned limit = max_prefix(address->family);
  unsigned prefix_length = limit;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const bool well_formed =
        !digits.empty() && digits.size() <= 3 && (digits.size() == 1 || digits.front() != '0') &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    unsigned value = 0;
    for (char c : digits)
      value = value * 10 + static_cast<unsigned>(c - '0');
    if (!well_formed || value > limit) {
      return failure(shown + " has an invalid prefix length (expected 0 to " +
                     std::to_string(limit) + " after the '/')");
    }
    prefix_length = value;
  }
  if (!host_bits_clear(*address, prefix_length)) {
    ParsedAddress network = *address;
    for (unsigned bit = prefix_length; bit < limit; ++bit) {
      network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return failure(shown + " has host bits set beyond the /" + std::to_string(prefix_length) +
                   " prefix (did you mean " + address_text(network) + "/" +
                   std::to_string(prefix_length) + "?)");
  }
  ClientNetworkResult result;
  result.network.family = address->family;
  result.network.address = address->bytes;
  result.network.prefix_length = prefix_length;
  result.network.text = address_text(*address) + "/" + std::to_string(prefix_length);
  return result;
}

bool ClientNetwork::contains(std::string_view client_address) const {
  const std::optional<ParsedAddress> client = parse_address(client_address);
  if (!client) return false;
  if (family == AddressFamily::ipv4) {
    if (client->family == AddressFamily::ipv4) {
      return same_prefix(address.data(), client->bytes.data(), prefix_length);
    }
    return is_ipv4_mapped(*client) &&
           same_prefix(address.data(), client->bytes.data() + 12, prefix_length);
  }
  if (client->family == AddressFamily::ipv6) {
    return same_prefix(address.data(), client->bytes.data(), prefix_length);
  }
  // An IPv4 client against an IPv6 network: compare its IPv4-mapped form.
  std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  std::copy_n(client->bytes.begin(), 4, mapped.begin() + 12);
  return same_prefix(address.data(), mapped.data(), prefix_length);
}

}  // namespace bulkq
