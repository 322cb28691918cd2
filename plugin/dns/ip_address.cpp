#include "dns/ip_address.h"

#include <arpa/inet.h>

namespace bulkq {

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& b) {
  IpAddress a;
  a.family = Family::v4;
  for (std::size_t i = 0; i < 4; ++i)
    a.bytes[i] = b[i];
  return a;
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == Family::v4 ? AF_INET : AF_INET6;
  // inet_ntop only formats memory; it touches no socket and no global state.
  if (inet_ntop(af, bytes.data(), text, sizeof text) == nullptr) return "?";
  return text;
}

}  // namespace bulkq
