// DomainResolver: resolves one destination domain completely — its MX lookup, the route that
// mx_route.h decides from it, then every route host's A and AAAA lookups in parallel — into the
// one DomainResolution the DNS cache stores. Also resolves a relay host (relay mode) the same way
// without the MX step.
//
// What is promised:
//   - every resolve_domain()/resolve_relay() gets exactly one callback while the DomainResolver
//     lives; destroying it drops the callbacks of the resolutions in flight without calling them
//     (so must the Resolver outlive it, as the Resolver's own callbacks still hold them);
//   - the callback runs from a Resolver callback, on the Resolver's thread, never inside the
//     call — except when no lookup is needed at all: a relay given as an IP address, or a relay
//     name that is not a host name, is answered at once, inside resolve_relay();
//   - failures map as mx_route.h says: NXDOMAIN and a null MX are permanent, SERVFAIL, timeouts
//     and every other lookup failure temporary. A route whose hosts end up with no address at all
//     becomes a failure too, so the send path never sees a route it cannot connect to:
//       * an implicit MX (no MX records) whose domain has no A/AAAA records either → permanent
//         (RFC 5321 §5.1: the domain is not a mail destination);
//       * MX hosts that all say NXDOMAIN/NODATA → temporary ("no MX host has an address": the
//         domain's owner can repair it, the queue lifetime bounds the retries);
//       * address lookups that failed (SERVFAIL, timeouts) → temporary.
//     Failures of a relay are always temporary: a mistyped relay must not bounce every message.
//   - a host's addresses come in family order — IPv6 first unless options.prefer_ipv4 — each
//     family in answer order; with options.ipv6 off no AAAA lookup is made.
//   - when one family of a host answered and the other failed temporarily, the host keeps the
//     addresses it has, but their TTL is capped at kPartialAnswerTtlSeconds so the missing
//     family is asked for again soon.
//
// Thread: the Resolver's (event-loop) thread makes every call and runs every callback. Not
// thread-safe. The random source (PickIndex) shuffles MX hosts of equal preference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "dns/dns_cache.h"
#include "dns/mx_route.h"
#include "dns/resolver.h"

namespace bulkq {

inline constexpr std::uint32_t kPartialAnswerTtlSeconds = 60;

struct DomainResolverOptions {
  bool ipv6 = true;          // also ask for AAAA records
  bool prefer_ipv4 = false;  // list IPv4 addresses before IPv6 ones (default: IPv6 first)
};

using DomainResolutionCallback = std::function<void(DomainResolution)>;

// What the lookups in flight reach through a weak_ptr, so they outlive the DomainResolver safely.
struct DomainResolverShared;

class DomainResolver {
 public:
  DomainResolver(Resolver& resolver, PickIndex pick, DomainResolverOptions options = {});
  ~DomainResolver();
  DomainResolver(const DomainResolver&) = delete;
  DomainResolver& operator=(const DomainResolver&) = delete;

  // `domain`: a canonical destination domain (normalise_domain's output, not a literal).
  void resolve_domain(std::string domain, DomainResolutionCallback callback);

  // `relay`: a host name ("mail.example.test") or an IP address, bare or in brackets
  // ("192.0.2.1", "[192.0.2.1]", "[IPv6:2001:db8::1]"). The resolution is a route with that one
  // host (an address keeps its text, without brackets, as the host name).
  void resolve_relay(std::string_view relay, DomainResolutionCallback callback);

  // Resolutions started and not yet called back.
  [[nodiscard]] std::size_t in_flight() const;

  [[nodiscard]] const DomainResolverOptions& options() const;

 private:
  std::shared_ptr<DomainResolverShared> shared_;
};

}  // namespace bulkq
