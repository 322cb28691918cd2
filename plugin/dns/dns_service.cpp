#include "dns/dns_service.h"

#include <algorithm>
#include <utility>

namespace bulkq {

DnsService::DnsService(Resolver& resolver, DnsCacheStore* store, PickIndex pick,
                       DnsServiceOptions options)
    : options_(std::move(options)),
      cache_(options_.cache),
      store_(store),
      resolver_(resolver, std::move(pick), options_.resolver) {}

DnsService::~DnsService() = default;

DnsServiceStartReport DnsService::start(TimePoint now) {
  DnsServiceStartReport report;
  if (store_ == nullptr) return report;
  const DnsCacheLoadReport loaded =
      store_->load([&](std::string_view domain, DnsCacheRecord record) {
        std::string refused = cache_.restore(domain, std::move(record));
        if (refused.empty()) {
          ++report.restored;
          stored_domains_.emplace(domain);
          return;
        }
        if (report.skipped++ == 0) {
          report.first_skip = "DNS cache: domain " + std::string(domain) + ": " + refused;
        }
        note_store_error(store_->remove(domain));  // it would be refused at every start
      });
  report.skipped += loaded.skipped;
  if (report.first_skip.empty()) report.first_skip = loaded.first_skip;
  report.store_error = loaded.error;
  if (!loaded.ok()) note_store_error(loaded.error);
  // Records already beyond serve-stale would only be purged at the first tick: drop them now.
  report.expired = cache_.purge(now);
  remove_purged();
  return report;
}

DnsCacheLookup DnsService::lookup(std::string_view domain, TimePoint now) {
  return cache_.lookup(domain, now);
}

void DnsService::when_ready(std::string_view domain, TimePoint now, DnsReadyCallback callback) {
  DnsCacheLookup cached = cache_.lookup(domain, now);
  if (cached.state != DnsCacheState::missing) {
    callback(cached);
    return;
  }
  cache_.note_batch_waited_on_dns();
  auto flight = flights_.find(domain);
  if (flight == flights_.end()) {
    begin(domain, now, /*urgent=*/true);
    flight = flights_.find(domain);
  } else if (!flight->second.running && flight->second.waiters.empty()) {
    urgent_line_.emplace_back(domain);  // a queued prefetch now has a batch waiting: move it up
  }
  flight->second.waiters.push_back(std::move(callback));
  start_queued();
}

void DnsService::prefetch(std::span<const std::string_view> domains, TimePoint now,
                          Duration horizon) {
  for (std::string_view domain : domains) {
    if (cache_.prefetch(domain, now, horizon) == PrefetchDecision::start) {
      begin(domain, now, /*urgent=*/false);
    }
  }
  start_queued();
}

void DnsService::refresh(TimePoint now) {
  const std::size_t limit = std::max<std::size_t>(options_.max_lookups_in_flight, 1);
  const std::size_t room = flights_.size() < limit ? limit - flights_.size() : 0;
  if (room > 0) {
    std::vector<std::string> due = cache_.refresh_due(now, options_.refresh_horizon);
    // Earliest expiry first; the rest are still due at the next tick.
    if (due.size() > room) due.resize(room);
    for (const std::string& domain : due)
      begin(domain, now, /*urgent=*/false);
    start_queued();
  }
  cache_.purge(now);
  remove_purged();
  if (store_ != nullptr) note_store_error(store_->flush());
}

DnsServiceStatus DnsService::status() const {
  DnsServiceStatus s;
  s.cached_domains = cache_.size();
  s.resolutions_in_flight = running_;
  s.resolutions_queued = flights_.size() - running_;
  for (const auto& [domain, flight] : flights_)
    s.waiters += flight.waiters.size();
  s.counters = cache_.counters();
  s.store_errors = store_errors_;
  s.last_store_error = last_store_error_;
  return s;
}

void DnsService::begin(std::string_view domain, TimePoint now, bool urgent) {
  cache_.begin_lookup(domain);  // already done by DnsCache::prefetch; harmless twice
  flights_.emplace(std::string(domain), Flight{now, false, {}});
  (urgent ? urgent_line_ : background_line_).emplace_back(domain);
}

void DnsService::start_queued() {
  const std::size_t limit = std::max<std::size_t>(options_.max_lookups_in_flight, 1);
  while (running_ < limit) {
    std::deque<std::string>& line = !urgent_line_.empty() ? urgent_line_ : background_line_;
    if (line.empty()) return;
    const std::string domain = std::move(line.front());
    line.pop_front();
    auto flight = flights_.find(domain);
    // A domain moved up to the urgent line is also still in the background line: skip it there.
    if (flight == flights_.end() || flight->second.running) continue;
    run(domain, flight->second);
  }
}

void DnsService::run(const std::string& domain, Flight& flight) {
  flight.running = true;
  ++running_;
  // The Resolver never calls back inside resolve(), so `flight` outlives this call.
  resolver_.resolve_domain(
      domain, [this, domain](DomainResolution resolution) { resolved(domain, resolution); });
}

void DnsService::resolved(const std::string& domain, const DomainResolution& resolution) {
  auto flight = flights_.find(domain);
  if (flight == flights_.end()) return;  // cannot happen: one flight per domain until here
  const TimePoint asked_at = flight->second.asked_at;
  std::vector<DnsReadyCallback> waiters = std::move(flight->second.waiters);
  flights_.erase(flight);
  --running_;

  write_through(domain, cache_.store(domain, resolution, asked_at));
  start_queued();
  if (waiters.empty()) return;
  // The waiters are sending now: read as the send path does (this marks the record in use).
  const DnsCacheLookup ready = cache_.lookup(domain, asked_at);
  for (DnsReadyCallback& waiter : waiters)
    waiter(ready);
}

void DnsService::write_through(std::string_view domain, const DnsCacheRecord& record) {
  if (store_ == nullptr) return;
  note_store_error(store_->put(domain, record));
  stored_domains_.emplace(domain);  // even after a failure: an older version may be there
}

void DnsService::remove_purged() {
  for (auto it = stored_domains_.begin(); it != stored_domains_.end();) {
    if (cache_.peek(*it) != nullptr) {
      ++it;
      continue;
    }
    if (store_ != nullptr) note_store_error(store_->remove(*it));
    it = stored_domains_.erase(it);
  }
}

void DnsService::note_store_error(std::string error) {
  if (error.empty()) return;
  ++store_errors_;
  last_store_error_ = std::move(error);
}

}  // namespace bulkq
