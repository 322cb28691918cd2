#include "dns/domain_resolver.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "core/domain_name.h"

namespace bulkq {

struct DomainResolverShared {
  DomainResolverShared(Resolver& r, PickIndex p, DomainResolverOptions o)
      : resolver(r), pick(std::move(p)), options(o) {}
  Resolver& resolver;
  PickIndex pick;
  DomainResolverOptions options;
  std::size_t in_flight = 0;
};

namespace {

std::optional<std::uint32_t> min_ttl(std::optional<std::uint32_t> a,
                                     std::optional<std::uint32_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// One route host's lookups, merged.
enum class HostOutcome : std::uint8_t { addresses, no_address, failed };

struct HostLookups {
  std::optional<DnsLookupResult> a;
  std::optional<DnsLookupResult> aaaa;  // stays empty when IPv6 is off
};

struct MergedHost {
  HostAddresses addresses;
  HostOutcome outcome = HostOutcome::failed;
  std::string failure;  // failed: which lookup and how
};

MergedHost merge_host(const std::string& name, const HostLookups& lookups, bool prefer_ipv4) {
  MergedHost merged;
  merged.addresses.host = name;
  std::vector<const DnsLookupResult*> answers;
  if (lookups.a) answers.push_back(&*lookups.a);
  if (lookups.aaaa) answers.push_back(&*lookups.aaaa);
  if (!prefer_ipv4) std::reverse(answers.begin(), answers.end());

  std::optional<std::uint32_t> positive_ttl;
  std::optional<std::uint32_t> negative_ttl;
  for (const DnsLookupResult* answer : answers) {
    if (answer->outcome == DnsOutcome::records) {
      merged.addresses.addresses.insert(merged.addresses.addresses.end(), answer->addresses.begin(),
                                        answer->addresses.end());
      positive_ttl = min_ttl(positive_ttl, answer->ttl);
    } else if (answer->outcome == DnsOutcome::nodata || answer->outcome == DnsOutcome::nxdomain) {
      negative_ttl = min_ttl(negative_ttl, answer->ttl);
    } else if (merged.failure.empty()) {
      merged.failure = std::string(to_string(answer->type)) + " lookup of " + name +
                       " failed: " + to_string(answer->outcome);
    }
  }
  const bool any_failed = !merged.failure.empty();
  if (!merged.addresses.addresses.empty()) {
    merged.outcome = HostOutcome::addresses;
    merged.addresses.ttl = positive_ttl;
    if (any_failed) {
      merged.addresses.ttl = min_ttl(positive_ttl, kPartialAnswerTtlSeconds);
    }
  } else if (!any_failed) {
    // Believed absent for the negative TTL; 0 (the cache's minimum) when no SOA said how long.
    merged.outcome = HostOutcome::no_address;
    merged.addresses.ttl = negative_ttl.value_or(0);
  } else {
    merged.outcome = HostOutcome::failed;  // ttl stays empty: the cache's temporary failure
  }
  return merged;
}

struct Job {
  std::weak_ptr<DomainResolverShared> shared;
  std::string domain;
  bool relay = false;
  DomainResolution resolution;
  std::vector<HostLookups> lookups;  // parallel to resolution.route.hosts
  std::size_t outstanding = 0;
  DomainResolutionCallback callback;
};

void fail(DomainResolution& resolution, RouteStatus status, std::string reason,
          std::optional<std::uint32_t> ttl, bool negative) {
  resolution.route.status = status;
  resolution.route.reason = std::move(reason);
  resolution.route.hosts.clear();
  resolution.hosts.clear();
  resolution.ttl = ttl;
  resolution.negative = negative;
}

void finish(const std::shared_ptr<Job>& job, DomainResolverShared& shared) {
  --shared.in_flight;
  DomainResolutionCallback callback = std::move(job->callback);
  callback(std::move(job->resolution));
}

// Every address lookup has answered: build the hosts, or the failure when none has an address.
void assemble(const std::shared_ptr<Job>& job, DomainResolverShared& shared) {
  DomainResolution& resolution = job->resolution;
  bool any_address = false;
  bool all_absent = true;
  std::string first_failure;
  std::optional<std::uint32_t> negative_ttl;
  for (std::size_t i = 0; i < resolution.route.hosts.size(); ++i) {
    MergedHost merged =
        merge_host(resolution.route.hosts[i].name, job->lookups[i], shared.options.prefer_ipv4);
    any_address = any_address || merged.outcome == HostOutcome::addresses;
    if (merged.outcome == HostOutcome::failed) {
      all_absent = false;
      if (first_failure.empty()) first_failure = merged.failure;
    } else if (merged.outcome == HostOutcome::no_address) {
      negative_ttl = min_ttl(negative_ttl, merged.addresses.ttl);
    }
    resolution.hosts.push_back(std::move(merged.addresses));
  }
  if (job->relay && !resolution.hosts.empty()) resolution.ttl = resolution.hosts.front().ttl;
  if (!any_address) {
    const RouteHost first = resolution.route.hosts.front();  // a copy: fail() clears hosts
    if (!all_absent) {
      fail(resolution, RouteStatus::temporary_failure, first_failure, std::nullopt, false);
    } else if (job->relay) {
      fail(resolution, RouteStatus::temporary_failure,
           "relay host " + first.name + " has no address", std::nullopt, false);
    } else if (first.implicit) {
      fail(resolution, RouteStatus::permanent_failure,
           "domain has no MX and no address records (RFC 5321 section 5.1)", negative_ttl, true);
    } else {
      fail(resolution, RouteStatus::temporary_failure, "no MX host has an address", std::nullopt,
           false);
    }
  }
  finish(job, shared);
}

void on_address(const std::shared_ptr<Job>& job, std::size_t host, DnsLookupResult result) {
  std::shared_ptr<DomainResolverShared> shared = job->shared.lock();
  if (!shared) return;  // the DomainResolver is gone: drop the callback
  HostLookups& lookups = job->lookups[host];
  (result.type == QueryType::aaaa ? lookups.aaaa : lookups.a) = std::move(result);
  if (--job->outstanding == 0) assemble(job, *shared);
}

// The route is known: ask every host's A (and AAAA) at once.
void ask_addresses(const std::shared_ptr<Job>& job, DomainResolverShared& shared) {
  const std::size_t hosts = job->resolution.route.hosts.size();
  job->lookups.assign(hosts, HostLookups{});
  // Counted in full before the first lookup starts, whatever order the answers come in.
  job->outstanding = hosts * (shared.options.ipv6 ? 2 : 1);
  for (std::size_t i = 0; i < hosts; ++i) {
    const std::string& name = job->resolution.route.hosts[i].name;
    shared.resolver.resolve(name, QueryType::a,
                            [job, i](DnsLookupResult r) { on_address(job, i, std::move(r)); });
    if (shared.options.ipv6) {
      shared.resolver.resolve(name, QueryType::aaaa,
                              [job, i](DnsLookupResult r) { on_address(job, i, std::move(r)); });
    }
  }
}

void on_mx(const std::shared_ptr<Job>& job, DnsLookupResult result) {
  std::shared_ptr<DomainResolverShared> shared = job->shared.lock();
  if (!shared) return;
  DomainResolution& resolution = job->resolution;
  resolution.route = route_domain(job->domain, result.mx_answer(), shared->pick);
  resolution.ttl = result.ttl;
  resolution.negative =
      result.outcome == DnsOutcome::nxdomain || result.outcome == DnsOutcome::nodata;
  if (resolution.route.status != RouteStatus::route) {
    // A temporary failure is not a negative answer: the cache keeps it only briefly.
    if (resolution.route.status == RouteStatus::temporary_failure) resolution.negative = false;
    finish(job, *shared);
    return;
  }
  ask_addresses(job, *shared);
}

struct RelayAddress {
  IpAddress address;
  std::string text;  // without brackets and tag: the host name the resolution gives it
};

// "192.0.2.1", "[192.0.2.1]", "[IPv6:2001:db8::1]", "2001:db8::1" → the address; else nothing.
std::optional<RelayAddress> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  constexpr std::string_view kTag = "ipv6:";
  if (text.size() > kTag.size()) {
    std::string head(text.substr(0, kTag.size()));
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (head == kTag) text = text.substr(kTag.size());
  }
  const std::string bare(text);
  std::array<std::uint8_t, 4> v4{};
  if (inet_pton(AF_INET, bare.c_str(), v4.data()) == 1)
    return RelayAddress{IpAddress::v4(v4), bare};
  std::array<std::uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, bare.c_str(), v6.data()) == 1)
    return RelayAddress{IpAddress::v6(v6), bare};
  return std::nullopt;
}

}  // namespace

DomainResolver::DomainResolver(Resolver& resolver, PickIndex pick, DomainResolverOptions options)
    : shared_(std::make_shared<DomainResolverShared>(resolver, std::move(pick), options)) {}

// Dropping shared_ expires every job's weak_ptr: their Resolver callbacks then do nothing.
DomainResolver::~DomainResolver() = default;

std::size_t DomainResolver::in_flight() const {
  return shared_->in_flight;
}

const DomainResolverOptions& DomainResolver::options() const {
  return shared_->options;
}

void DomainResolver::resolve_domain(std::string domain, DomainResolutionCallback callback) {
  auto job = std::make_shared<Job>();
  job->shared = shared_;
  job->domain = domain;
  job->callback = std::move(callback);
  ++shared_->in_flight;
  shared_->resolver.resolve(std::move(domain), QueryType::mx,
                            [job](DnsLookupResult r) { on_mx(job, std::move(r)); });
}

void DomainResolver::resolve_relay(std::string_view relay, DomainResolutionCallback callback) {
  DomainResolution resolution;
  if (std::optional<RelayAddress> literal = parse_address(relay)) {
    const std::string& name = literal->text;
    resolution.route.status = RouteStatus::route;
    resolution.route.hosts.push_back(RouteHost{name, 0, false});
    // An address never expires; the cache clamps this to its longest TTL.
    resolution.ttl = std::numeric_limits<std::uint32_t>::max();
    resolution.hosts.push_back(
        HostAddresses{name, {literal->address}, std::numeric_limits<std::uint32_t>::max()});
    callback(std::move(resolution));
    return;
  }
  const DomainNameResult name = normalise_domain(relay);
  if (!name.ok() || name.canonical.front() == '[') {
    fail(resolution, RouteStatus::temporary_failure,
         "relay host " + std::string(relay) + ": " +
             (name.ok() ? "bad address literal" : name.error),
         std::nullopt, false);
    callback(std::move(resolution));
    return;
  }
  auto job = std::make_shared<Job>();
  job->shared = shared_;
  job->domain = name.canonical;
  job->relay = true;
  job->callback = std::move(callback);
  job->resolution.route.status = RouteStatus::route;
  job->resolution.route.hosts.push_back(RouteHost{name.canonical, 0, false});
  ++shared_->in_flight;
  ask_addresses(job, *shared_);
}

}  // namespace bulkq
