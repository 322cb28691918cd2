// IpAddress: one IPv4 or IPv6 address as DNS returned it, in network byte order.
//
// A value type for the DNS cache and, later, the SMTP connector: comparable, copyable, printable.
// IPv4 addresses use the first 4 bytes; the other 12 are always zero, so equality is plain byte
// equality and the cache record encoding stays canonical. Pure; callable from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace bulkq {

struct IpAddress {
  enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

  Family family = Family::v4;
  std::array<std::uint8_t, 16> bytes{};  // v4: bytes[0..3], the rest zero

  [[nodiscard]] static IpAddress v4(const std::array<std::uint8_t, 4>& b);
  [[nodiscard]] static IpAddress v6(const std::array<std::uint8_t, 16>& b) {
    return {Family::v6, b};
  }

  // "192.0.2.1" or "2001:db8::1" (RFC 5952 form, as inet_ntop prints it).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

}  // namespace bulkq
