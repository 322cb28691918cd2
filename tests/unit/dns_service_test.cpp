// DnsService against FakeResolver (and, for restarts, a real LmdbDnsCacheStore in a temporary
// directory): waiting for DNS, serving from the cache, failures, serve-stale, prefetch, the
// refresher, the bound on resolutions in flight, and a warm restart. Time is a FakeClock.
#include "dns/dns_service.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/dns_cache_store.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_resolver.h"
#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;
using bulkq::testing::FakeResolver;
using bulkq::testing::TempDir;

namespace {

const IpAddress kMx1 = IpAddress::v4({192, 0, 2, 1});
const IpAddress kMx2 = IpAddress::v4({192, 0, 2, 2});

std::size_t first_index(std::size_t /*n*/) {
  return 0;
}

// example.test → mx.example.test (MX TTL 3600) → 192.0.2.1 (A TTL 600).
void serve_example(FakeResolver& dns, const std::string& domain = "example.test",
                   const IpAddress& address = kMx1) {
  dns.set_mx(domain, {{10, "mx." + domain}}, 3600);
  dns.set_host("mx." + domain, address, 600);
}

// Collects what when_ready() hands over.
struct Waiter {
  int calls = 0;
  DnsCacheLookup lookup;
  DnsReadyCallback callback() {
    return [this](const DnsCacheLookup& l) {
      ++calls;
      lookup = l;
    };
  }
};

std::unique_ptr<LmdbDnsCacheStore> open_store(const std::string& dir,
                                              std::size_t map_size = std::size_t{1} << 20) {
  LmdbDnsCacheStoreOptions options;
  options.directory = dir;
  options.map_size = map_size;
  LmdbDnsCacheStoreOpenResult opened = LmdbDnsCacheStore::open(options);
  INFO(opened.error);
  REQUIRE(opened.ok());
  return std::move(opened.store);
}

}  // namespace

TEST_CASE("a batch waits for DNS once; then the cache answers at once", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  serve_example(dns);
  DnsService service(dns, nullptr, first_index);
  Waiter first;
  service.when_ready("example.test", clock.now(), first.callback());
  CHECK(first.calls == 0);
  CHECK(service.status().resolutions_in_flight == 1);
  CHECK(service.status().waiters == 1);
  dns.answer_all();
  REQUIRE(first.calls == 1);
  CHECK(first.lookup.state == DnsCacheState::fresh);
  REQUIRE(first.lookup.record.status == RouteStatus::route);
  CHECK(first.lookup.record.hosts.at(0).addresses == std::vector<IpAddress>{kMx1});
  CHECK(first.lookup.record.expires() == clock.now() + 600s);

  clock.advance(10s);
  Waiter second;
  service.when_ready("example.test", clock.now(), second.callback());
  CHECK(second.calls == 1);  // synchronously, from the cache
  CHECK(second.lookup.state == DnsCacheState::fresh);
  CHECK(service.lookup("example.test", clock.now()).state == DnsCacheState::fresh);
  CHECK(dns.total_queries() == 3);  // MX, A, AAAA: once

  const DnsServiceStatus status = service.status();
  CHECK(status.cached_domains == 1);
  CHECK(status.resolutions_in_flight == 0);
  CHECK(status.waiters == 0);
  CHECK(status.counters.batches_waited_on_dns == 1);
  CHECK(status.counters.stores == 1);
}

TEST_CASE("every waiter of a domain is called once, by one resolution", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  serve_example(dns);
  serve_example(dns, "other.test", kMx2);
  DnsService service(dns, nullptr, first_index);
  std::vector<Waiter> waiters(3);
  for (Waiter& w : waiters)
    service.when_ready("example.test", clock.now(), w.callback());
  Waiter other;
  service.when_ready("other.test", clock.now(), other.callback());
  CHECK(dns.queries("example.test", QueryType::mx) == 1);
  CHECK(service.status().waiters == 4);
  dns.answer_all();
  for (const Waiter& w : waiters) {
    CHECK(w.calls == 1);
    CHECK(w.lookup.record.hosts.at(0).addresses == std::vector<IpAddress>{kMx1});
  }
  CHECK(other.calls == 1);
  CHECK(other.lookup.record.hosts.at(0).addresses == std::vector<IpAddress>{kMx2});
  CHECK(service.status().counters.batches_waited_on_dns == 4);
  CHECK(dns.total_queries() == 6);
}

TEST_CASE("permanent failures are cached as negative answers", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  dns.set_outcome("gone.test", QueryType::mx, DnsOutcome::nxdomain, 600);
  dns.set_mx("nomail.test", {{0, "."}}, 3600);
  DnsService service(dns, nullptr, first_index);
  Waiter gone;
  Waiter nomail;
  service.when_ready("gone.test", clock.now(), gone.callback());
  service.when_ready("nomail.test", clock.now(), nomail.callback());
  dns.answer_all();
  REQUIRE(gone.calls == 1);
  CHECK(gone.lookup.record.status == RouteStatus::permanent_failure);
  CHECK(gone.lookup.record.route_expires == clock.now() + 600s);
  REQUIRE(nomail.calls == 1);
  CHECK(nomail.lookup.record.status == RouteStatus::permanent_failure);

  clock.advance(300s);
  Waiter again;
  service.when_ready("gone.test", clock.now(), again.callback());
  CHECK(again.calls == 1);
  CHECK(again.lookup.record.status == RouteStatus::permanent_failure);
  CHECK(dns.total_queries() == 2);  // no address lookups, no second MX lookup
}

TEST_CASE("SERVFAIL is a short-lived temporary failure, then the domain recovers", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  dns.set_outcome("example.test", QueryType::mx, DnsOutcome::servfail);
  DnsService service(dns, nullptr, first_index);
  Waiter failing;
  service.when_ready("example.test", clock.now(), failing.callback());
  dns.answer_all();
  REQUIRE(failing.calls == 1);
  CHECK(failing.lookup.state == DnsCacheState::fresh);
  CHECK(failing.lookup.record.status == RouteStatus::temporary_failure);

  // Within temporary_failure_ttl (30 s) the failure is served without asking again.
  clock.advance(20s);
  Waiter cached;
  service.when_ready("example.test", clock.now(), cached.callback());
  CHECK(cached.calls == 1);
  CHECK(cached.lookup.record.status == RouteStatus::temporary_failure);
  CHECK(dns.total_queries() == 1);

  serve_example(dns);
  clock.advance(10s);
  Waiter recovered;
  service.when_ready("example.test", clock.now(), recovered.callback());
  CHECK(recovered.calls == 0);
  dns.answer_all();
  REQUIRE(recovered.calls == 1);
  CHECK(recovered.lookup.record.status == RouteStatus::route);
  CHECK(dns.queries("example.test", QueryType::mx) == 2);
}

TEST_CASE("a resolver failing after warm-up gets the stale answer served", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  serve_example(dns);
  DnsService service(dns, nullptr, first_index);
  Waiter warm;
  service.when_ready("example.test", clock.now(), warm.callback());
  dns.answer_all();
  REQUIRE(warm.lookup.state == DnsCacheState::fresh);

  // The addresses expire at +600 s; by then the DNS servers fail.
  clock.advance(601s);
  dns.set_outcome("example.test", QueryType::mx, DnsOutcome::timeout);
  Waiter during_outage;
  service.when_ready("example.test", clock.now(), during_outage.callback());
  CHECK(during_outage.calls == 0);  // expired: ask first
  dns.answer_all();
  REQUIRE(during_outage.calls == 1);
  CHECK(during_outage.lookup.state == DnsCacheState::stale);
  CHECK(during_outage.lookup.record.status == RouteStatus::route);
  CHECK(during_outage.lookup.record.hosts.at(0).addresses == std::vector<IpAddress>{kMx1});

  // While it keeps failing, the send path reads the stale answer without waiting.
  clock.advance(10min);
  Waiter later;
  service.when_ready("example.test", clock.now(), later.callback());
  CHECK(later.calls == 1);
  CHECK(later.lookup.state == DnsCacheState::stale);
  CHECK(service.status().counters.refresh_failures == 1);

  // Beyond the serve-stale window (1 h past expiry) it is gone.
  clock.advance(1h);
  CHECK(service.lookup("example.test", clock.now()).state == DnsCacheState::missing);
}

TEST_CASE("prefetch starts each lookup once and never for fresh records", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  serve_example(dns, "a.test");
  serve_example(dns, "b.test");
  DnsService service(dns, nullptr, first_index);
  const std::vector<std::string_view> next = {"a.test", "b.test", "a.test"};
  service.prefetch(next, clock.now(), 1min);
  CHECK(dns.queries("a.test", QueryType::mx) == 1);
  CHECK(dns.queries("b.test", QueryType::mx) == 1);
  service.prefetch(next, clock.now(), 1min);  // still in flight
  Waiter batch;
  service.when_ready("a.test", clock.now(), batch.callback());  // joins the prefetch
  CHECK(dns.queries("a.test", QueryType::mx) == 1);
  CHECK(service.status().counters.prefetches_started == 2);
  dns.answer_all();
  CHECK(batch.calls == 1);
  CHECK(batch.lookup.state == DnsCacheState::fresh);

  service.prefetch(next, clock.now(), 1min);  // fresh for 10 min: nothing to do
  CHECK(dns.total_queries() == 6);
  clock.advance(9min + 30s);
  service.prefetch(next, clock.now(), 1min);  // expiring within the horizon: ask again
  CHECK(dns.queries("a.test", QueryType::mx) == 2);
  CHECK(dns.queries("b.test", QueryType::mx) == 2);
}

TEST_CASE("the refresher re-resolves records in use before they expire, not unused ones", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  serve_example(dns, "used.test");
  serve_example(dns, "idle.test");
  DnsServiceOptions options;
  options.refresh_horizon = 2min;
  DnsService service(dns, nullptr, first_index, options);
  Waiter used;
  Waiter idle;
  service.when_ready("used.test", clock.now(), used.callback());
  service.when_ready("idle.test", clock.now(), idle.callback());
  dns.answer_all();
  REQUIRE(dns.total_queries() == 6);

  // Both were just read by the batches that waited: both are in use, both are refreshed.
  clock.advance(5min);
  service.refresh(clock.now());  // they expire in 5 min: beyond the 2 min horizon
  CHECK(dns.pending() == 0);
  clock.advance(4min);  // 1 min before expiry
  service.refresh(clock.now());
  CHECK(dns.queries("used.test", QueryType::mx) == 2);
  CHECK(dns.queries("idle.test", QueryType::mx) == 2);
  dns.answer_all();

  // From now on only used.test is read by the send path.
  clock.advance(6min);
  CHECK(service.lookup("used.test", clock.now()).state == DnsCacheState::fresh);
  clock.advance(3min);  // both expire in 1 min
  service.refresh(clock.now());
  CHECK(dns.queries("used.test", QueryType::mx) == 3);
  CHECK(dns.queries("idle.test", QueryType::mx) == 2);
  dns.answer_all();
  clock.advance(2min);
  CHECK(service.lookup("used.test", clock.now()).state == DnsCacheState::fresh);
  CHECK(service.lookup("idle.test", clock.now()).state == DnsCacheState::missing);
  CHECK(service.status().counters.batches_waited_on_dns == 2);
}

TEST_CASE("at most max_lookups_in_flight resolutions run; waited-for domains go first", "[dns]") {
  FakeClock clock;
  FakeResolver dns;
  for (const char* d : {"a.test", "b.test", "c.test", "d.test"})
    serve_example(dns, d);
  DnsServiceOptions options;
  options.max_lookups_in_flight = 1;
  DnsService service(dns, nullptr, first_index, options);
  const std::vector<std::string_view> next = {"a.test", "b.test", "c.test"};
  service.prefetch(next, clock.now(), 1min);
  CHECK(dns.pending() == 1);
  CHECK(service.status().resolutions_queued == 2);
  Waiter batch;
  service.when_ready("d.test", clock.now(), batch.callback());
  Waiter on_c;
  service.when_ready("c.test", clock.now(), on_c.callback());
  CHECK(dns.pending() == 1);

  // a.test finishes; then d.test and c.test (waited for) run before b.test (a prefetch).
  for (int i = 0; i < 3; ++i)
    REQUIRE(dns.answer_next());
  CHECK(dns.queries("d.test", QueryType::mx) == 1);
  CHECK(dns.queries("b.test", QueryType::mx) == 0);
  dns.answer_all();
  CHECK(batch.calls == 1);
  CHECK(on_c.calls == 1);
  CHECK(dns.queries("b.test", QueryType::mx) == 1);
  CHECK(service.status().resolutions_in_flight == 0);
  CHECK(service.status().resolutions_queued == 0);

  // The refresher starts no more than there is room for; the rest stay due for the next tick.
  for (const char* d : {"a.test", "b.test", "c.test", "d.test"})
    (void)service.lookup(d, clock.now());
  clock.advance(9min);
  service.refresh(clock.now());
  CHECK(dns.pending() == 1);
  CHECK(service.status().resolutions_queued == 0);
}

TEST_CASE("a restart is warm from the store: no query needed", "[dns][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/dns";
  FakeClock clock;
  {
    auto store = open_store(dir);
    FakeResolver dns;
    serve_example(dns);
    dns.set_outcome("gone.test", QueryType::mx, DnsOutcome::nxdomain, 600);
    DnsService service(dns, store.get(), first_index);
    const DnsServiceStartReport empty = service.start(clock.now());
    CHECK(empty.restored == 0);
    Waiter a;
    Waiter b;
    service.when_ready("example.test", clock.now(), a.callback());
    service.when_ready("gone.test", clock.now(), b.callback());
    dns.answer_all();
    service.refresh(clock.now());  // flushes
    CHECK(service.status().store_errors == 0);
  }
  clock.advance(1min);
  auto store = open_store(dir);
  FakeResolver dns;  // knows nothing: every query would fail
  DnsService service(dns, store.get(), first_index);
  const DnsServiceStartReport report = service.start(clock.now());
  CHECK(report.restored == 2);
  CHECK(report.skipped == 0);
  CHECK(report.store_error.empty());
  Waiter a;
  service.when_ready("example.test", clock.now(), a.callback());
  REQUIRE(a.calls == 1);
  CHECK(a.lookup.state == DnsCacheState::fresh);
  CHECK(a.lookup.record.hosts.at(0).addresses == std::vector<IpAddress>{kMx1});
  CHECK(service.lookup("gone.test", clock.now()).record.status == RouteStatus::permanent_failure);
  CHECK(dns.total_queries() == 0);
  CHECK(service.status().counters.batches_waited_on_dns == 0);
}

TEST_CASE("purged records leave the store; dead ones are dropped at start", "[dns][lmdb]") {
  TempDir temp;
  const std::string dir = temp.path() + "/dns";
  FakeClock clock;
  {
    auto store = open_store(dir);
    FakeResolver dns;
    serve_example(dns, "a.test");
    serve_example(dns, "b.test");
    DnsService service(dns, store.get(), first_index);
    (void)service.start(clock.now());
    Waiter a;
    Waiter b;
    service.when_ready("a.test", clock.now(), a.callback());
    service.when_ready("b.test", clock.now(), b.callback());
    dns.answer_all();
    // a.test stays in use and is refreshed; b.test is left to expire and be purged.
    for (int minute = 0; minute < 80; ++minute) {
      clock.advance(1min);
      (void)service.lookup("a.test", clock.now());
      service.refresh(clock.now());
      dns.answer_all();
    }
    CHECK(service.status().cached_domains == 1);
  }
  {
    auto store = open_store(dir);
    std::vector<std::string> stored;
    const DnsCacheLoadReport loaded =
        store->load([&](std::string_view domain, DnsCacheRecord) { stored.emplace_back(domain); });
    CHECK(loaded.ok());
    CHECK(stored == std::vector<std::string>{"a.test"});
  }
  // Two hours later a.test is dead too: dropped at start, from the store as well.
  clock.advance(2h);
  auto store = open_store(dir);
  FakeResolver dns;
  DnsService service(dns, store.get(), first_index);
  const DnsServiceStartReport report = service.start(clock.now());
  CHECK(report.restored == 1);
  CHECK(report.expired == 1);
  CHECK(service.status().cached_domains == 0);
  std::size_t left = 0;
  (void)store->load([&](std::string_view, DnsCacheRecord) { ++left; });
  CHECK(left == 0);
}

TEST_CASE("a failing store is counted and the cache keeps working", "[dns][lmdb]") {
  TempDir temp;
  auto store = open_store(temp.path() + "/dns", 32 * 1024);  // room for a few records only
  FakeClock clock;
  FakeResolver dns;
  std::vector<std::string> domains;
  for (int i = 0; i < 200; ++i) {
    domains.push_back("d" + std::to_string(i) + ".test");
    dns.set_mx(domains.back(), {{10, "mx." + domains.back()}});
    std::vector<IpAddress> many(kMaxAddressesPerFamily, kMx1);
    dns.set_addresses("mx." + domains.back(), QueryType::a, many);
    dns.set_addresses("mx." + domains.back(), QueryType::aaaa, many);
  }
  DnsService service(dns, store.get(), first_index);
  std::vector<Waiter> waiters(domains.size());
  for (std::size_t i = 0; i < domains.size(); ++i)
    service.when_ready(domains[i], clock.now(), waiters[i].callback());
  dns.answer_all();
  for (const Waiter& w : waiters)
    CHECK(w.lookup.state == DnsCacheState::fresh);
  const DnsServiceStatus status = service.status();
  CHECK(status.cached_domains == domains.size());
  CHECK(status.store_errors > 0);
  CHECK_THAT(status.last_store_error, Catch::Contains("MDB_MAP_FULL"));
  CHECK(service.lookup("d199.test", clock.now()).state == DnsCacheState::fresh);
}
