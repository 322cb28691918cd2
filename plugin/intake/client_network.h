// ClientNetwork: one IPv4 or IPv6 network in CIDR notation, and whether a client address is in it.
//
// Read from bulkq.toml (bulk.client_networks) on the thread that loads the configuration, then
// consulted by the milter threads for each connection's client address. Pure and immutable after
// parsing: no I/O, no global state, safe to share between threads. A network whose address has
// bits set beyond its prefix ("192.0.2.1/24") is refused rather than silently widened, because
// the admin most likely meant something else. An IPv4 client address the MTA reports in its
// IPv4-mapped IPv6 form ("::ffff:192.0.2.1") matches the IPv4 network it belongs to.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulkq {

enum class AddressFamily : std::uint8_t { ipv4, ipv6 };

// Longest network text parse_client_network looks at ("ffff:…:ffff/128" is 43 bytes).
inline constexpr std::size_t kMaxClientNetworkLength = 64;

struct ClientNetwork {
  AddressFamily family = AddressFamily::ipv4;
  std::array<std::uint8_t, 16> address{};  // network byte order; IPv4 uses the first 4 bytes
  unsigned prefix_length = 0;              // 0..32 for IPv4, 0..128 for IPv6
  std::string text;                        // canonical, "192.0.2.0/24", "2001:db8::/32"

  // `client_address` as the milter reports it: "192.0.2.7", "2001:db8::7" or "::ffff:192.0.2.7".
  // Anything that is not an address is in no network.
  [[nodiscard]] bool contains(std::string_view client_address) const;

  friend bool operator==(const ClientNetwork&, const ClientNetwork&) = default;
};

struct ClientNetworkResult {
  ClientNetwork network;  // set when ok()
  std::string error;      // set when !ok(): says what is wrong, for a configuration error
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// "192.0.2.0/24", "2001:db8::/32", or a bare address meaning /32 or /128.
[[nodiscard]] ClientNetworkResult parse_client_network(std::string_view text);

}  // namespace bulkq
