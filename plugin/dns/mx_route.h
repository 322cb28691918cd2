// MxRoute: where mail for one destination domain goes, decided from its MX lookup.
//
// The rules (RFC 5321 §5.1, RFC 7505), in order:
//   - NXDOMAIN                                  → permanent failure ("domain does not exist")
//   - exactly one MX, exchange ".", preference 0 → permanent failure (null MX: "domain does not
//                                                  accept mail")
//   - NOERROR without MX (NODATA)               → implicit MX: the domain itself, preference 0
//   - MX records                                → hosts by ascending preference; hosts of equal
//                                                  preference shuffled with the injected random
//                                                  source (RFC 5321 §5.1 asks senders to spread
//                                                  load over them)
//   - SERVFAIL, REFUSED, other RCODEs, timeouts, resolver errors, malformed answers
//                                               → temporary failure (a broken or forged reply must
//                                                  never bounce mail)
// MX hosts bulkq will not use are skipped, each with a note:
//   - "." in a list with other records (a null MX must stand alone: the others are used);
//   - an IP address written as the exchange ("192.0.2.1", "2001:db8::1"): RFC 5321 §5.1 wants a
//     host name, and a literal there is a misconfiguration (Exim ignores such records too);
//   - "localhost" and names under ".localhost" (RFC 6761 §6.3: always this machine, so
//     delivering there would loop mail back into the local MTA);
//   - names that are not valid host names; duplicates (the lowest preference is kept).
// When every record is skipped the route is a temporary failure "no usable MX host": the
// domain's owner can repair it, and the queue lifetime bounds the retries.
//
// Pure: the random source is injected, nothing else is read; callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/dns_answer.h"

namespace bulkq {

inline constexpr std::size_t kMaxRouteHosts = 16;

enum class RouteStatus : std::uint8_t { route, permanent_failure, temporary_failure };

[[nodiscard]] const char* to_string(RouteStatus status);

struct RouteHost {
  std::string name;  // canonical host name (lower case, no trailing dot), to resolve to addresses
  std::uint16_t preference = 0;
  bool implicit = false;  // the domain itself, for want of MX records

  friend bool operator==(const RouteHost&, const RouteHost&) = default;
};

struct MxRoute {
  RouteStatus status = RouteStatus::temporary_failure;
  std::vector<RouteHost> hosts;    // route: the order to try them in (at most kMaxRouteHosts)
  std::string reason;              // failures: for the log line and the DSN
  std::vector<std::string> notes;  // skipped MX records and why (logged, never persisted)
};

// Returns an index in [0, n) for n >= 1; a value out of range is reduced modulo n.
using PickIndex = std::function<std::size_t(std::size_t n)>;

// `domain` is the canonical destination domain (normalise_domain's output, not a literal).
[[nodiscard]] MxRoute route_domain(std::string_view domain, const MxAnswer& answer,
                                   const PickIndex& pick);

}  // namespace bulkq
