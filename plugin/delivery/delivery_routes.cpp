#include "delivery/delivery_routes.h"

#include <utility>

namespace bulkq {

namespace {

RouteAnswer failure(RouteAnswer::Kind kind, std::string reason) {
  RouteAnswer answer;
  answer.kind = kind;
  answer.reason = std::move(reason);
  return answer;
}

}  // namespace

RouteAnswer route_answer(const DnsCacheLookup& lookup, std::uint16_t port) {
  if (lookup.state == DnsCacheState::missing) {
    return failure(RouteAnswer::Kind::temporary_failure, "no DNS answer yet");
  }
  const DnsCacheRecord& record = lookup.record;
  switch (record.status) {
    case RouteStatus::permanent_failure: {
      RouteAnswer answer = failure(RouteAnswer::Kind::permanent_failure, record.reason);
      answer.null_mx = record.reason.find("null MX") != std::string::npos;
      return answer;
    }
    case RouteStatus::temporary_failure:
      return failure(RouteAnswer::Kind::temporary_failure,
                     record.reason.empty() ? "temporary DNS failure" : record.reason);
    case RouteStatus::route:
      break;
  }
  RouteAnswer answer;
  answer.kind = RouteAnswer::Kind::route;
  for (const CachedHost& host : record.hosts) {
    for (const IpAddress& address : host.addresses) {
      answer.endpoints.push_back(SmtpEndpoint{address.to_string(), port});
      answer.endpoint_hosts.push_back(host.name);
    }
  }
  if (answer.endpoints.empty()) {
    return failure(RouteAnswer::Kind::temporary_failure, "no address for any MX host");
  }
  return answer;
}

void DnsRoutes::route(std::string_view domain, TimePoint now,
                      std::function<void(RouteAnswer)> done) {
  dns_.when_ready(domain, now, [done = std::move(done), port = port_](const DnsCacheLookup& l) {
    done(route_answer(l, port));
  });
}

void DnsRoutes::prefetch(std::span<const std::string_view> domains, TimePoint now) {
  dns_.prefetch(domains, now, horizon_);
}

void RelayRoutes::route(std::string_view, TimePoint now, std::function<void(RouteAnswer)> done) {
  const bool fresh = last_good_ && now - resolved_at_ < refresh_;
  if (fresh || (last_good_ && in_flight_)) {
    done(*last_good_);
    return;
  }
  if (last_good_) {
    // Stale: serve it now and refresh behind it.
    done(*last_good_);
  } else {
    waiting_.push_back(std::move(done));
  }
  if (in_flight_) return;
  in_flight_ = true;
  resolver_.resolve_relay(
      host_, [this, now](const DomainResolution& resolution) { resolved(resolution, now); });
}

void RelayRoutes::resolved(const DomainResolution& resolution, TimePoint asked_at) {
  in_flight_ = false;
  DnsCacheLookup lookup;
  lookup.state = DnsCacheState::fresh;
  lookup.record.status = resolution.route.status;
  lookup.record.reason = resolution.route.reason;
  for (const RouteHost& host : resolution.route.hosts) {
    CachedHost cached;
    cached.name = host.name;
    for (const HostAddresses& found : resolution.hosts) {
      if (found.host == host.name) cached.addresses = found.addresses;
    }
    lookup.record.hosts.push_back(std::move(cached));
  }
  RouteAnswer answer = route_answer(lookup, port_);
  if (answer.kind == RouteAnswer::Kind::route) {
    last_good_ = answer;
    resolved_at_ = asked_at;
  } else {
    // A relay's trouble is never permanent: the admin fixes the name or the DNS.
    answer.kind = RouteAnswer::Kind::temporary_failure;
    answer.reason = "relay " + host_ + ": " + answer.reason;
    if (last_good_) answer = *last_good_;
  }
  std::vector<std::function<void(RouteAnswer)>> waiting;
  waiting.swap(waiting_);
  for (auto& done : waiting)
    done(answer);
}

}  // namespace bulkq
