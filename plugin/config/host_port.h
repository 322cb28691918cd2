// HostPort: "host", "host:port", "[address]:port" as bulkq.toml writes a relay or a DNS server.
//
// Pure; any thread. The host is either a numeric IPv4/IPv6 address (kept as written, without the
// brackets) or a host name in canonical form (normalise_domain). An IPv6 address with a port must
// be bracketed, as in Postfix's relayhost and c-ares's server lists; a bare IPv6 address without a
// port is accepted as it is unambiguous.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bulkq {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool literal = false;  // host is a numeric address
  bool ipv6 = false;
};

struct HostPortResult {
  HostPort value;     // set when ok()
  std::string error;  // set when !ok(): what is wrong, for the configuration error
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// `default_port` is used when the text names no port. `literal_only` refuses host names (DNS
// servers must be addresses: there is no resolver to find them with).
[[nodiscard]] HostPortResult parse_host_port(std::string_view text, std::uint16_t default_port,
                                             bool literal_only);

// "127.0.0.1:53", "[::1]:53", "mx.example.com:25".
[[nodiscard]] std::string to_string(const HostPort& host_port);

}  // namespace bulkq
