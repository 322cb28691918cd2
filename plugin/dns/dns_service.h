// DnsService: the DNS the delivery engine sees — the offline cache (DnsCache), kept warm across
// restarts by a DnsCacheStore, filled through DomainResolver, refreshed in the background.
//
// The send path only reads (lookup()); a batch whose domain has no servable answer waits for one
// (when_ready()); the scheduler asks ahead for the next queues' domains (prefetch()); a periodic
// tick (refresh()) re-resolves the records in use before they expire, purges the dead ones and
// flushes the store. DESIGN §3.5.
//
// Time: there is no clock inside. Every call is given `now`; a resolution is stored as of the
// time its lookup was asked for (the `now` of the call that started it), so TTLs count from
// before the answer arrived — a record expires at most one lookup's duration early, never late.
//
// What is promised:
//   - at most one resolution per domain is in flight; every waiter of that domain is called back
//     exactly once, when it is stored, with what the cache then serves: the new answer, a
//     temporary failure (kept for DnsCacheLimits::temporary_failure_ttl), a permanent failure
//     (cached as a negative answer), or — when the resolver fails after a good answer — the old
//     answer, stale (RFC 8767's serve-stale, bounded by DnsCacheLimits::serve_stale);
//   - when_ready() calls back synchronously, inside the call, when the cache can already serve
//     (fresh, or stale while the resolver is failing); otherwise later, from a Resolver callback;
//     callbacks may call into the service again;
//   - at most options.max_lookups_in_flight resolutions run at once: the rest wait in line, those
//     a batch waits for ahead of prefetches; the refresher starts only as many as there is room
//     for and leaves the others to the next tick;
//   - every stored resolution is written to the store, every purged record removed from it; a
//     store failure is counted and kept for status(), never fatal — the cache keeps working;
//   - destroying the service drops the callbacks of resolutions in flight without calling them.
//
// Domains are canonical (normalise_domain's output); the service does not normalise them.
//
// Thread: the event-loop thread that owns the Resolver makes every call and runs every callback
// (the scheduler's thread when they are the same loop). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "dns/dns_cache.h"
#include "dns/dns_cache_store.h"
#include "dns/domain_resolver.h"
#include "dns/mx_route.h"
#include "dns/resolver.h"

namespace bulkq {

struct DnsServiceOptions {
  DnsCacheLimits cache;
  // refresh(): records in use that expire within this are re-resolved now.
  Duration refresh_horizon = std::chrono::minutes(5);
  std::size_t max_lookups_in_flight = 64;  // domain resolutions at once (each is 1 + 2n lookups)
  DomainResolverOptions resolver;          // ipv6, prefer_ipv4
};

// What start() found in the store: for the start-up log line.
struct DnsServiceStartReport {
  std::size_t restored = 0;  // records put back into the cache
  std::size_t skipped = 0;   // records that did not decode or that the cache refused
  std::size_t expired = 0;   // records beyond their serve-stale window, dropped
  std::string first_skip;    // why the first skipped record was skipped
  std::string store_error;   // the store could not be read (fully): the cache starts colder
};

struct DnsServiceStatus {
  std::size_t cached_domains = 0;
  std::size_t resolutions_in_flight = 0;  // running now
  std::size_t resolutions_queued = 0;     // waiting for room under max_lookups_in_flight
  std::size_t waiters = 0;                // when_ready() callbacks not yet called
  DnsCacheCounters counters;
  std::uint64_t store_errors = 0;
  std::string last_store_error;
};

using DnsReadyCallback = std::function<void(const DnsCacheLookup&)>;

class DnsService {
 public:
  // `store` may be null (no persistence); it and `resolver` must outlive the service.
  DnsService(Resolver& resolver, DnsCacheStore* store, PickIndex pick,
             DnsServiceOptions options = {});
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // Loads the store into the cache (once, before anything else), dropping records already dead
  // at `now` (from the store too).
  [[nodiscard]] DnsServiceStartReport start(TimePoint now);

  // The send path's read: fresh, stale or missing (DnsCache::lookup).
  [[nodiscard]] DnsCacheLookup lookup(std::string_view domain, TimePoint now);

  // Calls `callback` with a servable answer for `domain`: at once when the cache has one,
  // otherwise once a resolution (started now unless one is in flight) is stored.
  void when_ready(std::string_view domain, TimePoint now, DnsReadyCallback callback);

  // The scheduler will soon send to these domains: start lookups for those whose record is
  // missing or expires within `horizon` (DnsCache::prefetch), unless one is in flight.
  void prefetch(std::span<const std::string_view> domains, TimePoint now, Duration horizon);

  // The refresher's tick: re-resolves records in use that expire within the refresh horizon,
  // purges the dead ones, and flushes the store.
  void refresh(TimePoint now);

  // Relay mode: resolves the relay host (DomainResolver::resolve_relay; an IP address is answered
  // at once, inside the call). Not cached: the caller keeps the one answer for its TTL.
  void resolve_relay(std::string_view relay, DomainResolutionCallback callback) {
    resolver_.resolve_relay(relay, std::move(callback));
  }

  [[nodiscard]] DnsServiceStatus status() const;
  // The cached record of `domain`, fresh or stale, without counting a lookup; null when none.
  [[nodiscard]] const DnsCacheRecord* peek(std::string_view domain) const {
    return cache_.peek(domain);
  }
  [[nodiscard]] const DnsServiceOptions& options() const { return options_; }

 private:
  struct Flight {
    TimePoint asked_at{};  // the resolution is stored as of this time
    bool running = false;  // false: waiting in line
    std::vector<DnsReadyCallback> waiters;
  };

  void begin(std::string_view domain, TimePoint now, bool urgent);
  void start_queued();
  void run(const std::string& domain, Flight& flight);
  void resolved(const std::string& domain, const DomainResolution& resolution);
  void write_through(std::string_view domain, const DnsCacheRecord& record);
  void remove_purged();
  void note_store_error(std::string error);

  DnsServiceOptions options_;
  DnsCache cache_;
  DnsCacheStore* store_;
  std::map<std::string, Flight, std::less<>> flights_;  // queued or running, one per domain
  std::deque<std::string> urgent_line_;                 // queued that a batch waits for
  std::deque<std::string> background_line_;             // queued prefetches
  std::size_t running_ = 0;
  std::set<std::string, std::less<>> stored_domains_;  // what the store holds: to remove purged
  std::uint64_t store_errors_ = 0;
  std::string last_store_error_;
  // Last: destroyed first, so no resolution calls back into a half-destroyed service.
  DomainResolver resolver_;
};

}  // namespace bulkq
