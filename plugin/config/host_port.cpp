#include "config/host_port.h"

#include <arpa/inet.h>

#include <charconv>

#include "core/domain_name.h"

namespace bulkq {
namespace {

bool is_ipv4(const std::string& text) {
  in_addr out{};
  return ::inet_pton(AF_INET, text.c_str(), &out) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr out{};
  return ::inet_pton(AF_INET6, text.c_str(), &out) == 1;
}

HostPortResult failure(std::string error) {
  HostPortResult result;
  result.error = std::move(error);
  return result;
}

}  // namespace

HostPortResult parse_host_port(std::string_view text, std::uint16_t default_port,
                               bool literal_only) {
  if (text.empty()) return failure("empty (expected host or host:port)");
  if (text.size() > 300) return failure("too long to be a host and port");
  std::string_view host = text;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return failure("'[' without ']'");
    host = text.substr(1, close - 1);
    bracketed = true;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return failure("expected ':port' after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return failure("empty port after ':'");
    }
  } else if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) {
      // Several colons: a bare IPv6 address without a port.
      host = text;
    } else {
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return failure("empty port after ':'");
    }
  }
  HostPortResult result;
  result.value.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return failure("port \"" + std::string(port_text) + "\" is not a number from 1 to 65535");
    }
    result.value.port = static_cast<std::uint16_t>(value);
  }
  const std::string host_text(host);
  if (host_text.empty()) return failure("empty host");
  if (is_ipv6(host_text)) {
    result.value = HostPort{host_text, result.value.port, true, true};
    return result;
  }
  if (bracketed) {
    if (is_ipv4(host_text)) {
      result.value = HostPort{host_text, result.value.port, true, false};
      return result;
    }
    return failure("\"" + host_text + "\" in brackets is not an IP address");
  }
  if (is_ipv4(host_text)) {
    result.value = HostPort{host_text, result.value.port, true, false};
    return result;
  }
  if (literal_only) return failure("\"" + host_text + "\" is not an IP address");
  const DomainNameResult canonical = normalise_domain(host_text);
  if (!canonical.ok())
    return failure("\"" + host_text + "\" is not a host name: " + canonical.error);
  if (canonical.canonical.front() == '[') {
    return failure("\"" + host_text + "\" is not a host name");
  }
  result.value = HostPort{canonical.canonical, result.value.port, false, false};
  return result;
}

std::string to_string(const HostPort& host_port) {
  const std::string host = host_port.ipv6 ? "[" + host_port.host + "]" : host_port.host;
  return host + ":" + std::to_string(host_port.port);
}

}  // namespace bulkq
