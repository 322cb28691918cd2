#include "dns/dns_cache.h"

#include <algorithm>
#include <utility>

namespace bulkq {
namespace {

Duration clamp_seconds(std::optional<std::uint32_t> ttl, Duration low, Duration high) {
  const Duration d = ttl ? Duration{std::chrono::seconds(*ttl)} : low;
  return std::clamp(d, low, std::max(low, high));
}

// Reasons come from DNS text; the record encoding takes printable ASCII of bounded length.
std::string printable_reason(std::string_view reason) {
  std::string out(reason.substr(0, kMaxDnsReasonBytes));
  for (char& c : out) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b > 0x7e) c = '?';
  }
  return out;
}

const CachedHost* find_host(const DnsCacheRecord& record, std::string_view name) {
  for (const CachedHost& h : record.hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

const HostAddresses* find_addresses(const DomainResolution& resolution, std::string_view name) {
  for (const HostAddresses& h : resolution.hosts) {
    if (h.host == name) return &h;
  }
  return nullptr;
}

}  // namespace

const char* to_string(DnsCacheState state) {
  switch (state) {
    case DnsCacheState::fresh:
      return "fresh";
    case DnsCacheState::stale:
      return "stale";
    case DnsCacheState::missing:
      return "missing";
  }
  return "?";
}

DnsCache::DnsCache(DnsCacheLimits limits) : limits_(limits) {}

Duration DnsCache::positive_ttl(std::optional<std::uint32_t> ttl) const {
  return clamp_seconds(ttl, limits_.min_ttl, limits_.max_ttl);
}

Duration DnsCache::negative_ttl(std::optional<std::uint32_t> ttl) const {
  return clamp_seconds(ttl, limits_.min_negative_ttl, limits_.max_negative_ttl);
}

bool DnsCache::servable_stale(const Entry& entry, TimePoint now) const {
  return entry.failing && entry.record.status != RouteStatus::temporary_failure &&
         now < entry.record.expires() + limits_.serve_stale;
}

DnsCacheRecord DnsCache::make_record(const DomainResolution& resolution, const Entry* previous,
                                     TimePoint now) const {
  DnsCacheRecord rec;
  rec.status = resolution.route.status;
  rec.reason = printable_reason(resolution.route.reason);
  rec.stored_at = now;
  if (rec.status == RouteStatus::temporary_failure) {
    rec.route_expires = now + limits_.temporary_failure_ttl;
  } else {
    rec.route_expires =
        now + (resolution.negative ? negative_ttl(resolution.ttl) : positive_ttl(resolution.ttl));
  }
  if (rec.status != RouteStatus::route) return rec;
  for (const RouteHost& route_host : resolution.route.hosts) {
    if (rec.hosts.size() == kMaxRouteHosts) break;
    CachedHost host{route_host.name, route_host.preference, route_host.implicit, {}, {}};
    const HostAddresses* found = find_addresses(resolution, route_host.name);
    if (found != nullptr && !found->addresses.empty()) {
      const std::size_t keep = std::min(found->addresses.size(), kMaxCachedAddressesPerHost);
      host.addresses.assign(found->addresses.begin(),
                            found->addresses.begin() + static_cast<std::ptrdiff_t>(keep));
      host.expires = now + positive_ttl(found->ttl);
    } else if (found != nullptr && found->ttl) {
      host.expires = now + negative_ttl(found->ttl);  // the host has no address: believed a while
    } else {
      // The address lookups failed temporarily: better the addresses we had, while servable.
      const CachedHost* old =
          previous != nullptr ? find_host(previous->record, route_host.name) : nullptr;
      if (old != nullptr && !old->addresses.empty() && now < old->expires + limits_.serve_stale) {
        host.addresses = old->addresses;
        host.expires = old->expires;
      } else {
        host.expires = now + limits_.temporary_failure_ttl;
      }
    }
    rec.hosts.push_back(std::move(host));
  }
  if (rec.hosts.empty()) {  // a route without hosts cannot be sent to; say so instead
    rec.status = RouteStatus::temporary_failure;
    rec.reason = "route without hosts";
    rec.route_expires = now + limits_.temporary_failure_ttl;
  }
  return rec;
}

const DnsCacheRecord& DnsCache::store(std::string_view domain, const DomainResolution& resolution,
                                      TimePoint now) {
  ++counters_.stores;
  if (auto flight = in_flight_.find(domain); flight != in_flight_.end()) in_flight_.erase(flight);
  auto it = entries_.find(domain);
  if (it != entries_.end() && resolution.route.status == RouteStatus::temporary_failure &&
      it->second.record.status != RouteStatus::temporary_failure &&
      now < it->second.record.expires() + limits_.serve_stale) {
    // The resolver is failing: keep what we know (RFC 8767's serve-stale) and say it is failing.
    it->second.failing = true;
    ++counters_.refresh_failures;
    return it->second.record;
  }
  DnsCacheRecord rec = make_record(resolution, it != entries_.end() ? &it->second : nullptr, now);
  // Carried-over addresses may already be expired: the record is then stale, servable only as
  // long as the resolver keeps failing.
  const bool failing = rec.expires() <= now;
  if (it == entries_.end()) {
    it = entries_.emplace(std::string(domain), Entry{}).first;
  }
  it->second = Entry{std::move(rec), false, failing};
  return it->second.record;
}

std::string DnsCache::restore(std::string_view domain, DnsCacheRecord record) {
  if (std::string e = check_dns_cache_key(domain); !e.empty()) return e;
  if (std::string e = check_dns_cache_record(record); !e.empty()) return e;
  entries_.insert_or_assign(std::string(domain), Entry{std::move(record), false, false});
  return {};
}

DnsCacheLookup DnsCache::lookup(std::string_view domain, TimePoint now) {
  DnsCacheLookup out;
  auto it = entries_.find(domain);
  if (it == entries_.end()) {
    ++counters_.misses;
    return out;
  }
  Entry& entry = it->second;
  entry.used = true;
  if (now < entry.record.expires()) {
    ++counters_.hits;
    out.state = DnsCacheState::fresh;
    out.record = entry.record;
  } else if (servable_stale(entry, now)) {
    ++counters_.stale_served;
    out.state = DnsCacheState::stale;
    out.record = entry.record;
  } else {
    ++counters_.misses;
  }
  return out;
}

const DnsCacheRecord* DnsCache::peek(std::string_view domain) const {
  auto it = entries_.find(domain);
  return it == entries_.end() ? nullptr : &it->second.record;
}

std::vector<std::string> DnsCache::refresh_due(TimePoint now, Duration horizon) const {
  std::vector<std::pair<TimePoint, const std::string*>> due;
  for (const auto& [domain, entry] : entries_) {
    if (!entry.used || in_flight(domain)) continue;
    const TimePoint expires = entry.record.expires();
    if (expires <= now + horizon) due.emplace_back(expires, &domain);
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  out.reserve(due.size());
  for (const auto& d : due)
    out.push_back(*d.second);
  return out;
}

void DnsCache::begin_lookup(std::string_view domain) {
  in_flight_.emplace(domain);
}

void DnsCache::end_lookup(std::string_view domain) {
  if (auto it = in_flight_.find(domain); it != in_flight_.end()) in_flight_.erase(it);
}

bool DnsCache::in_flight(std::string_view domain) const {
  return in_flight_.find(domain) != in_flight_.end();
}

PrefetchDecision DnsCache::prefetch(std::string_view domain, TimePoint now, Duration horizon) {
  auto it = entries_.find(domain);
  // The scheduler is about to send there: the record is in use, so the refresher keeps it.
  if (it != entries_.end()) it->second.used = true;
  if (in_flight(domain)) return PrefetchDecision::in_flight;
  if (it != entries_.end() && it->second.record.expires() > now + horizon) {
    return PrefetchDecision::not_needed;
  }
  begin_lookup(domain);
  ++counters_.prefetches_started;
  return PrefetchDecision::start;
}

std::size_t DnsCache::purge(TimePoint now) {
  return std::erase_if(entries_, [&](const auto& item) {
    return !in_flight(item.first) && now >= item.second.record.expires() + limits_.serve_stale;
  });
}

}  // namespace bulkq
