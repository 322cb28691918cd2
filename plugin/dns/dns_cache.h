// DnsCache: the in-memory offline DNS cache — per destination domain, the route (or failure)
// and every route host's addresses, each with an expiry derived from its TTL.
//
// Owned by the scheduler thread (the send path reads it; the refresher's and the prefetcher's
// results are stored into it on the same thread). Not thread-safe; pure: no I/O, no clock (every
// call is given `now`), so tests drive it with a FakeClock.
//
// What it promises:
//   - TTLs are clamped: positive answers to [min_ttl, max_ttl] (defaults 60 s, 1 day), negative
//     answers (NXDOMAIN, NODATA) to [min_negative_ttl, max_negative_ttl] (30 s, 1 h) from the
//     SOA's negative TTL; a temporary failure is kept for temporary_failure_ttl (30 s) so a
//     failing domain is not asked for on every batch.
//   - lookup() says fresh (before expiry), stale (expired, but the last refresh failed and the
//     record is within serve_stale of its expiry, default 1 h: better old addresses than none)
//     or missing. A temporary failure never replaces a good record that is still servable: it
//     marks the record as failing instead.
//   - refresh_due() lists the records used since their last refresh that expire within a
//     horizon, earliest first, so the background refresher keeps the send path reading only the
//     cache; records nobody uses are left to expire and be purged.
//   - prefetch() and the in-flight set remember which domains a lookup has been started for, so
//     the scheduler can ask for the next queues' domains without asking twice.
// Keys are canonical domains (normalise_domain's output); the cache does not normalise them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "dns/dns_cache_record.h"
#include "dns/ip_address.h"
#include "dns/mx_route.h"

namespace bulkq {

struct DnsCacheLimits {
  Duration min_ttl = std::chrono::seconds(60);
  Duration max_ttl = std::chrono::hours(24);
  Duration min_negative_ttl = std::chrono::seconds(30);
  Duration max_negative_ttl = std::chrono::hours(1);
  Duration temporary_failure_ttl = std::chrono::seconds(30);
  Duration serve_stale = std::chrono::hours(1);
};

// One route host's A and AAAA lookups, merged by the resolver.
struct HostAddresses {
  std::string host;
  std::vector<IpAddress> addresses;  // at most kMaxCachedAddressesPerHost are kept
  // The smallest TTL of the answers; for no addresses at all, the SOA negative TTL when the
  // lookups said NXDOMAIN/NODATA. Empty with no addresses: the lookups failed temporarily.
  std::optional<std::uint32_t> ttl;
};

// One complete resolution of a domain, as the resolver hands it to the cache.
struct DomainResolution {
  MxRoute route;                     // its notes are not kept
  std::optional<std::uint32_t> ttl;  // the MX answer's TTL, or its SOA negative TTL
  bool negative = false;             // the MX answer was NXDOMAIN or NODATA (ttl is negative)
  std::vector<HostAddresses> hosts;  // for route.hosts, matched by name
};

enum class DnsCacheState : std::uint8_t { fresh, stale, missing };

[[nodiscard]] const char* to_string(DnsCacheState state);

struct DnsCacheLookup {
  DnsCacheState state = DnsCacheState::missing;
  DnsCacheRecord record;  // fresh and stale: a copy of what is cached
};

enum class PrefetchDecision : std::uint8_t {
  not_needed,  // fresh beyond the horizon
  in_flight,   // a lookup was already started
  start,       // start a lookup now (the domain is now in flight)
};

struct DnsCacheCounters {
  std::uint64_t hits = 0;          // lookups answered fresh
  std::uint64_t misses = 0;        // lookups answered missing
  std::uint64_t stale_served = 0;  // lookups answered stale
  std::uint64_t stores = 0;
  std::uint64_t refresh_failures = 0;  // temporary failures that left a servable record in place
  std::uint64_t prefetches_started = 0;
  std::uint64_t batches_waited_on_dns = 0;  // note_batch_waited_on_dns(): the send path had to wait
};

class DnsCache {
 public:
  explicit DnsCache(DnsCacheLimits limits = {});

  // Stores a resolution of `domain` made at `now`, ends its in-flight state, and returns the
  // record now cached (the old one, marked failing, when a temporary failure left it servable);
  // the reference is valid until the next call that changes the cache.
  const DnsCacheRecord& store(std::string_view domain, const DomainResolution& resolution,
                              TimePoint now);

  // Puts back a record read from LMDB at start-up (not in use, not failing). A damaged record is
  // refused with the reason; nothing is stored then.
  [[nodiscard]] std::string restore(std::string_view domain, DnsCacheRecord record);

  // The send path's read: counts a hit, a miss or a stale answer, and marks the record in use.
  [[nodiscard]] DnsCacheLookup lookup(std::string_view domain, TimePoint now);

  // The record as it is, or nullptr: no counting, no use marking (for persisting and status).
  [[nodiscard]] const DnsCacheRecord* peek(std::string_view domain) const;

  // Records in use that expire before now + horizon and have no lookup in flight, earliest first.
  [[nodiscard]] std::vector<std::string> refresh_due(TimePoint now, Duration horizon) const;

  // The refresher started a lookup for `domain`.
  void begin_lookup(std::string_view domain);
  // A lookup ended without anything to store (cancelled at shutdown).
  void end_lookup(std::string_view domain);
  [[nodiscard]] bool in_flight(std::string_view domain) const;
  [[nodiscard]] const std::set<std::string, std::less<>>& lookups_in_flight() const {
    return in_flight_;
  }

  // The scheduler will soon send to `domain`: start a lookup unless the record stays fresh past
  // now + horizon or one is in flight already.
  [[nodiscard]] PrefetchDecision prefetch(std::string_view domain, TimePoint now, Duration horizon);

  // Drops records beyond their serve-stale window (and with no lookup in flight); returns how many.
  std::size_t purge(TimePoint now);

  void note_batch_waited_on_dns() { ++counters_.batches_waited_on_dns; }
  [[nodiscard]] const DnsCacheCounters& counters() const { return counters_; }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] const DnsCacheLimits& limits() const { return limits_; }

 private:
  struct Entry {
    DnsCacheRecord record;
    bool used = false;     // looked up since the last store
    bool failing = false;  // the last lookup failed temporarily; stale answers may be served
  };

  [[nodiscard]] Duration positive_ttl(std::optional<std::uint32_t> ttl) const;
  [[nodiscard]] Duration negative_ttl(std::optional<std::uint32_t> ttl) const;
  [[nodiscard]] bool servable_stale(const Entry& entry, TimePoint now) const;
  [[nodiscard]] DnsCacheRecord make_record(const DomainResolution& resolution,
                                           const Entry* previous, TimePoint now) const;

  DnsCacheLimits limits_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::set<std::string, std::less<>> in_flight_;
  DnsCacheCounters counters_;
};

}  // namespace bulkq
