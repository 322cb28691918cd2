#include "dns/mx_route.h"

#include <arpa/inet.h>

#include <algorithm>

#include "core/domain_name.h"

namespace bulkq {
namespace {

MxRoute failure(RouteStatus status, std::string reason) {
  MxRoute route;
  route.status = status;
  route.reason = std::move(reason);
  return route;
}

// An address spelt as a name: what inet_pton accepts (a pure text conversion).
bool looks_like_ip_address(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

bool is_localhost(std::string_view name) {
  constexpr std::string_view kLocal = "localhost";
  constexpr std::string_view kSuffix = ".localhost";
  return name == kLocal ||
         (name.size() > kSuffix.size() && name.substr(name.size() - kSuffix.size()) == kSuffix);
}

// Empty when `exchange` may be used; otherwise why it is skipped. Sets `canonical`.
std::string check_exchange(const std::string& exchange, std::string& canonical) {
  if (exchange == ".") return "a null MX among other MX records";
  if (looks_like_ip_address(exchange)) return "an IP address, not a host name";
  const DomainNameResult name = normalise_domain(exchange);
  if (!name.ok()) return name.error;
  if (name.canonical.front() == '[') return "an address literal, not a host name";
  if (is_localhost(name.canonical)) return "this machine (localhost)";
  canonical = name.canonical;
  return {};
}

void shuffle_equal_preferences(std::vector<RouteHost>& hosts, const PickIndex& pick) {
  auto group = hosts.begin();
  while (group != hosts.end()) {
    const auto end = std::find_if(
        group, hosts.end(), [&](const RouteHost& h) { return h.preference != group->preference; });
    // Fisher–Yates over [group, end).
    for (auto n = static_cast<std::size_t>(end - group); n > 1; --n) {
      const std::size_t j = pick(n) % n;
      std::swap(group[static_cast<std::ptrdiff_t>(n - 1)], group[static_cast<std::ptrdiff_t>(j)]);
    }
    group = end;
  }
}

MxRoute route_from_records(const std::vector<MxRecord>& records, const PickIndex& pick) {
  MxRoute route;
  if (records.size() == 1 && records.front().exchange == "." && records.front().preference == 0) {
    return failure(RouteStatus::permanent_failure,
                   "domain does not accept mail (null MX, RFC 7505)");
  }
  std::vector<MxRecord> sorted = records;
  std::stable_sort(sorted.begin(), sorted.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  for (const MxRecord& mx : sorted) {
    std::string canonical;
    if (std::string why = check_exchange(mx.exchange, canonical); !why.empty()) {
      route.notes.push_back("MX " + std::to_string(mx.preference) + " " + mx.exchange +
                            " skipped: " + why);
      continue;
    }
    const bool duplicate = std::any_of(route.hosts.begin(), route.hosts.end(),
                                       [&](const RouteHost& h) { return h.name == canonical; });
    if (duplicate) continue;  // sorted: the copy already kept has the lower preference
    if (route.hosts.size() == kMaxRouteHosts) {
      route.notes.push_back("MX hosts beyond the first " + std::to_string(kMaxRouteHosts) +
                            " ignored");
      break;
    }
    route.hosts.push_back(RouteHost{std::move(canonical), mx.preference, false});
  }
  if (route.hosts.empty()) {
    MxRoute none = failure(RouteStatus::temporary_failure, "no usable MX host");
    none.notes = std::move(route.notes);
    return none;
  }
  shuffle_equal_preferences(route.hosts, pick);
  route.status = RouteStatus::route;
  return route;
}

}  // namespace

const char* to_string(RouteStatus status) {
  switch (status) {
    case RouteStatus::route:
      return "route";
    case RouteStatus::permanent_failure:
      return "permanent failure";
    case RouteStatus::temporary_failure:
      return "temporary failure";
  }
  return "?";
}

MxRoute route_domain(std::string_view domain, const MxAnswer& answer, const PickIndex& pick) {
  switch (answer.outcome) {
    case DnsOutcome::records:
      return route_from_records(answer.records, pick);
    case DnsOutcome::nodata: {
      // RFC 5321 §5.1: no MX records, so the domain itself is the host, at preference 0.
      MxRoute route;
      std::string canonical;
      if (std::string why = check_exchange(std::string(domain), canonical); !why.empty()) {
        return failure(RouteStatus::temporary_failure,
                       "no MX records and the domain itself is unusable: " + why);
      }
      route.status = RouteStatus::route;
      route.hosts.push_back(RouteHost{std::move(canonical), 0, true});
      return route;
    }
    case DnsOutcome::nxdomain:
      return failure(RouteStatus::permanent_failure, "domain does not exist (NXDOMAIN)");
    case DnsOutcome::malformed:
      return failure(
          RouteStatus::temporary_failure,
          "MX lookup: malformed reply" + (answer.error.empty() ? "" : ": " + answer.error));
    case DnsOutcome::servfail:
    case DnsOutcome::refused:
    case DnsOutcome::other_rcode:
    case DnsOutcome::timeout:
    case DnsOutcome::resolver_error:
      break;
  }
  return failure(RouteStatus::temporary_failure,
                 std::string("MX lookup failed: ") + to_string(answer.outcome));
}

}  // namespace bulkq
