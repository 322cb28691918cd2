// Fuzzes the CIDR network parser and the client address check: no input may crash them, and
// whatever they accept must be stable (a network's canonical text parses back to the same
// network, and a network contains its own address).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "intake/client_network.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::ClientNetworkResult parsed = bulkq::parse_client_network(input);
  if (parsed.ok()) {
    const bulkq::ClientNetworkResult again = bulkq::parse_client_network(parsed.network.text);
    if (!again.ok() || !(again.network == parsed.network)) std::abort();
    const std::string_view text = parsed.network.text;
    if (!parsed.network.contains(text.substr(0, text.find('/')))) std::abort();
  } else if (parsed.error.empty()) {
    std::abort();
  }
  // The same bytes as a client address, against networks of both families.
  static const bulkq::ClientNetwork kAnyIpv4 = bulkq::parse_client_network("0.0.0.0/0").network;
  static const bulkq::ClientNetwork kSomeIpv6 =
      bulkq::parse_client_network("2001:db8::/32").network;
  (void)kAnyIpv4.contains(input);
  (void)kSomeIpv6.contains(input);
  return 0;
}
