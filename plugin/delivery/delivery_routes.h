// The two DeliveryRoutes bulkqd uses: DnsRoutes (delivery.mode = direct: each domain's MX hosts
// from the offline DNS cache) and RelayRoutes (delivery.mode = relay: every domain to one host).
//
// Thread: the event-loop thread that runs the DnsService / DomainResolver, like the
// DeliveryEngine that calls them. Pure apart from those seams.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "delivery/delivery_engine.h"
#include "dns/dns_service.h"
#include "dns/domain_resolver.h"

namespace bulkq {

// The endpoints of a cached route, in order: each host's addresses, hosts in MX order.
[[nodiscard]] RouteAnswer route_answer(const DnsCacheLookup& lookup, std::uint16_t port);

class DnsRoutes final : public DeliveryRoutes {
 public:
  DnsRoutes(DnsService& dns, std::uint16_t port, Duration prefetch_horizon)
      : dns_(dns), port_(port), horizon_(prefetch_horizon) {}

  void route(std::string_view domain, TimePoint now,
             std::function<void(RouteAnswer)> done) override;
  void prefetch(std::span<const std::string_view> domains, TimePoint now) override;

 private:
  DnsService& dns_;
  std::uint16_t port_;
  Duration horizon_;
};

// The relay's addresses are looked up again once `refresh` has passed since the last answer; a
// failed lookup keeps serving the last good answer (a relay that resolved once is still there).
class RelayRoutes final : public DeliveryRoutes {
 public:
  RelayRoutes(DomainResolver& resolver, std::string host, std::uint16_t port,
              Duration refresh = std::chrono::minutes(5))
      : resolver_(resolver), host_(std::move(host)), port_(port), refresh_(refresh) {}

  void route(std::string_view domain, TimePoint now,
             std::function<void(RouteAnswer)> done) override;
  void prefetch(std::span<const std::string_view>, TimePoint) override {}

 private:
  void resolved(const DomainResolution& resolution, TimePoint asked_at);

  DomainResolver& resolver_;
  std::string host_;
  std::uint16_t port_;
  Duration refresh_;
  std::optional<RouteAnswer> last_good_;
  TimePoint resolved_at_{};
  bool in_flight_ = false;
  std::vector<std::function<void(RouteAnswer)>> waiting_;
};

}  // namespace bulkq
