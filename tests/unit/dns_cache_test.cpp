#include "dns/dns_cache.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "dns/dns_cache_record.h"
#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

const IpAddress kSink = IpAddress::v4({127, 0, 0, 5});
const IpAddress kSink6 = IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});

// example.com → mx.example.com (MX TTL mx_ttl) → 127.0.0.5 (A TTL a_ttl).
DomainResolution good(std::optional<std::uint32_t> mx_ttl, std::optional<std::uint32_t> a_ttl) {
  DomainResolution r;
  r.route.status = RouteStatus::route;
  r.route.hosts.push_back({"mx.example.com", 10, false});
  r.ttl = mx_ttl;
  r.hosts.push_back({"mx.example.com", {kSink}, a_ttl});
  return r;
}

DomainResolution failed(RouteStatus status, std::optional<std::uint32_t> ttl, bool negative) {
  DomainResolution r;
  r.route.status = status;
  r.route.reason = status == RouteStatus::permanent_failure ? "domain does not exist (NXDOMAIN)"
                                                            : "MX lookup failed: timeout";
  r.ttl = ttl;
  r.negative = negative;
  return r;
}

DnsCacheRecord sample_record() {
  DnsCacheRecord rec;
  rec.status = RouteStatus::route;
  rec.stored_at = TimePoint{Duration{1'800'000'000'000}};
  rec.route_expires = rec.stored_at + 3600s;
  rec.hosts.push_back({"mx1.example.com", 10, false, rec.stored_at + 300s, {kSink, kSink6}});
  rec.hosts.push_back({"example.com", 0, true, rec.stored_at + 60s, {}});
  return rec;
}

std::string encoded(const DnsCacheRecord& rec) {
  const EncodedDnsCacheRecord out = encode_dns_cache_record(rec);
  REQUIRE(out.ok());
  return out.bytes;
}

}  // namespace

TEST_CASE("a stored route is fresh until its earliest TTL, then missing", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("example.com", good(3600, 300), clock.now());
  DnsCacheLookup hit = cache.lookup("example.com", clock.now());
  REQUIRE(hit.state == DnsCacheState::fresh);
  REQUIRE(hit.record.hosts.size() == 1);
  CHECK(hit.record.hosts[0].addresses == std::vector<IpAddress>{kSink});
  CHECK(hit.record.route_expires == clock.now() + 3600s);
  CHECK(hit.record.expires() == clock.now() + 300s);

  clock.advance(299s);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::fresh);
  clock.advance(1s);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::missing);
  CHECK(cache.lookup("other.test", clock.now()).state == DnsCacheState::missing);
  CHECK(cache.counters().hits == 2);
  CHECK(cache.counters().misses == 2);
}

TEST_CASE("TTLs are clamped to the configured bounds", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  const TimePoint t0 = clock.now();
  SECTION("positive: [60 s, 1 day]") {
    CHECK(cache.store("a.test", good(1, 5), t0).expires() == t0 + 60s);
    CHECK(cache.store("b.test", good(10'000'000, 10'000'000), t0).expires() == t0 + 24h);
    CHECK(cache.store("c.test", good(std::nullopt, std::nullopt), t0).expires() == t0 + 60s);
  }
  SECTION("negative: [30 s, 1 h] from the SOA") {
    CHECK(cache.store("nx1.test", failed(RouteStatus::permanent_failure, 5, true), t0)
              .route_expires == t0 + 30s);
    CHECK(cache.store("nx2.test", failed(RouteStatus::permanent_failure, 86400, true), t0)
              .route_expires == t0 + 1h);
    CHECK(cache.store("nx3.test", failed(RouteStatus::permanent_failure, 600, true), t0)
              .route_expires == t0 + 600s);
    CHECK(cache.store("nx4.test", failed(RouteStatus::permanent_failure, std::nullopt, true), t0)
              .route_expires == t0 + 30s);
  }
  SECTION("custom limits") {
    DnsCacheLimits limits;
    limits.min_ttl = 10s;
    limits.max_ttl = 20s;
    DnsCache custom(limits);
    CHECK(custom.store("a.test", good(3600, 15), t0).expires() == t0 + 15s);
    CHECK(custom.store("b.test", good(3600, 3600), t0).expires() == t0 + 20s);
  }
  SECTION("temporary failures are kept briefly") {
    CHECK(cache.store("t.test", failed(RouteStatus::temporary_failure, 9999, false), t0)
              .route_expires == t0 + 30s);
  }
}

TEST_CASE("negative answers are cached: NXDOMAIN, null MX, hosts without addresses", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("gone.test", failed(RouteStatus::permanent_failure, 600, true), clock.now());
  DnsCacheLookup nx = cache.lookup("gone.test", clock.now());
  REQUIRE(nx.state == DnsCacheState::fresh);
  CHECK(nx.record.status == RouteStatus::permanent_failure);
  CHECK_THAT(nx.record.reason, Catch::Contains("NXDOMAIN"));
  clock.advance(600s);
  CHECK(cache.lookup("gone.test", clock.now()).state == DnsCacheState::missing);

  // A null MX is a positive answer: its MX TTL is clamped like any other.
  DomainResolution null_mx = failed(RouteStatus::permanent_failure, 86400, false);
  CHECK(cache.store("nomail.test", null_mx, clock.now()).route_expires == clock.now() + 24h);

  // A host whose A/AAAA lookups said NXDOMAIN: no addresses, for the negative TTL.
  DomainResolution r = good(3600, 120);
  r.hosts[0].addresses.clear();
  const DnsCacheRecord& rec = cache.store("noaddr.test", r, clock.now());
  REQUIRE(rec.hosts.size() == 1);
  CHECK(rec.hosts[0].addresses.empty());
  CHECK(rec.hosts[0].expires == clock.now() + 120s);
}

TEST_CASE("a failing resolver gets the stale record for the serve-stale window", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("example.com", good(3600, 300), clock.now());
  const TimePoint expiry = clock.now() + 300s;

  // Refresh fails before expiry: the good record stays, fresh.
  clock.advance(250s);
  const DnsCacheRecord& kept = cache.store(
      "example.com", failed(RouteStatus::temporary_failure, std::nullopt, false), clock.now());
  CHECK(kept.status == RouteStatus::route);
  CHECK(cache.counters().refresh_failures == 1);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::fresh);

  // Past expiry, still failing: stale but servable for one hour.
  clock.set(expiry);
  DnsCacheLookup stale = cache.lookup("example.com", clock.now());
  CHECK(stale.state == DnsCacheState::stale);
  CHECK(stale.record.hosts[0].addresses == std::vector<IpAddress>{kSink});
  clock.set(expiry + 1h - 1ms);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::stale);
  clock.set(expiry + 1h);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::missing);
  CHECK(cache.counters().stale_served == 2);

  // Beyond the window a temporary failure replaces the record.
  cache.store("example.com", failed(RouteStatus::temporary_failure, std::nullopt, false),
              clock.now());
  CHECK(cache.peek("example.com")->status == RouteStatus::temporary_failure);

  // A successful refresh ends the failing state.
  cache.store("example.com", good(3600, 300), clock.now());
  clock.advance(301s);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::missing);
}

TEST_CASE("an expired record is not served stale unless the resolver failed", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("example.com", good(60, 60), clock.now());
  clock.advance(61s);
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::missing);
}

TEST_CASE("address lookups that fail keep the previous addresses while servable", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("example.com", good(3600, 300), clock.now());
  clock.advance(400s);
  DomainResolution r = good(3600, std::nullopt);
  r.hosts[0].addresses.clear();  // A and AAAA timed out
  const DnsCacheRecord& rec = cache.store("example.com", r, clock.now());
  REQUIRE(rec.hosts.size() == 1);
  CHECK(rec.hosts[0].addresses == std::vector<IpAddress>{kSink});
  CHECK(cache.lookup("example.com", clock.now()).state == DnsCacheState::stale);
}

TEST_CASE("refresh_due lists in-use records expiring within the horizon, earliest first", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  const TimePoint t0 = clock.now();
  cache.store("late.test", good(3600, 600), t0);
  cache.store("soon.test", good(3600, 120), t0);
  cache.store("unused.test", good(3600, 60), t0);
  cache.store("far.test", good(86400, 86400), t0);
  for (const char* d : {"late.test", "soon.test", "far.test"})
    (void)cache.lookup(d, t0);

  CHECK(cache.refresh_due(t0, 1min).empty());
  CHECK(cache.refresh_due(t0, 5min) == std::vector<std::string>{"soon.test"});
  CHECK(cache.refresh_due(t0, 10min) == std::vector<std::string>{"soon.test", "late.test"});
  cache.begin_lookup("soon.test");
  CHECK(cache.refresh_due(t0, 10min) == std::vector<std::string>{"late.test"});
  // Storing the refresh ends the flight and clears "in use" until the next lookup.
  cache.store("soon.test", good(3600, 120), t0 + 1min);
  CHECK_FALSE(cache.in_flight("soon.test"));
  CHECK(cache.refresh_due(t0 + 1min, 10min) == std::vector<std::string>{"late.test"});
  (void)cache.lookup("soon.test", t0 + 1min);
  CHECK(cache.refresh_due(t0 + 1min, 10min) == std::vector<std::string>{"soon.test", "late.test"});
}

TEST_CASE("prefetch starts one lookup per domain and skips fresh records", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  CHECK(cache.prefetch("new.test", clock.now(), 1min) == PrefetchDecision::start);
  CHECK(cache.prefetch("new.test", clock.now(), 1min) == PrefetchDecision::in_flight);
  CHECK(cache.lookups_in_flight().count("new.test") == 1);
  cache.store("new.test", good(3600, 600), clock.now());
  CHECK(cache.lookups_in_flight().empty());
  CHECK(cache.prefetch("new.test", clock.now(), 1min) == PrefetchDecision::not_needed);
  // Near expiry a prefetch refreshes it.
  CHECK(cache.prefetch("new.test", clock.now() + 9min + 30s, 1min) == PrefetchDecision::start);
  cache.end_lookup("new.test");
  CHECK_FALSE(cache.in_flight("new.test"));
  CHECK(cache.counters().prefetches_started == 2);
  // A prefetched domain is in use: the refresher keeps it.
  CHECK(cache.refresh_due(clock.now(), 1h) == std::vector<std::string>{"new.test"});
  cache.note_batch_waited_on_dns();
  CHECK(cache.counters().batches_waited_on_dns == 1);
}

TEST_CASE("purge drops records beyond the serve-stale window", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  cache.store("a.test", good(3600, 60), clock.now());
  cache.store("b.test", good(3600, 3600), clock.now());
  CHECK(cache.purge(clock.now() + 1h + 59s) == 0);
  CHECK(cache.purge(clock.now() + 1h + 60s) == 1);
  CHECK(cache.size() == 1);
  CHECK(cache.peek("a.test") == nullptr);
}

TEST_CASE("restore puts back persisted records and refuses damaged ones", "[dns]") {
  DnsCache cache;
  CHECK(cache.restore("example.com", sample_record()).empty());
  CHECK(*cache.peek("example.com") == sample_record());
  CHECK_FALSE(cache.restore("Example.COM", sample_record()).empty());
  DnsCacheRecord bad = sample_record();
  bad.hosts.clear();
  CHECK_THAT(cache.restore("b.test", bad), Catch::Contains("hosts"));
}

TEST_CASE("DNS cache records round-trip", "[dns]") {
  const DnsCacheRecord rec = sample_record();
  const std::string bytes = encoded(rec);
  const DecodedDnsCacheRecord decoded = decode_dns_cache_record(bytes);
  REQUIRE(decoded.ok());
  CHECK(decoded.record == rec);
  CHECK(encoded(decoded.record) == bytes);

  DnsCacheRecord failure;
  failure.status = RouteStatus::permanent_failure;
  failure.reason = "domain does not accept mail (null MX, RFC 7505)";
  failure.stored_at = TimePoint{Duration{-5}};  // any i64 survives
  failure.route_expires = TimePoint{Duration{INT64_MAX}};
  const DecodedDnsCacheRecord f = decode_dns_cache_record(encoded(failure));
  REQUIRE(f.ok());
  CHECK(f.record == failure);
}

TEST_CASE("every truncation of a DNS cache record is refused", "[dns]") {
  const std::string bytes = encoded(sample_record());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    const DecodedDnsCacheRecord d = decode_dns_cache_record(bytes.substr(0, n));
    CHECK_FALSE(d.ok());
    CHECK_FALSE(d.error.empty());
  }
  CHECK_THAT(decode_dns_cache_record(bytes + "x").error, Catch::Contains("after its last field"));
}

TEST_CASE("damaged DNS cache records are refused with a reason", "[dns]") {
  const std::string good_bytes = encoded(sample_record());
  auto with = [&](std::size_t at, char v) {
    std::string b = good_bytes;
    b[at] = v;
    return decode_dns_cache_record(b).error;
  };
  CHECK_THAT(with(0, 2), Catch::Contains("format version 2"));
  CHECK_THAT(with(1, 3), Catch::Contains("unknown status"));
  // Status "permanent failure" with hosts.
  CHECK_THAT(with(1, 1), Catch::Contains("expected none"));
  // Offsets in sample_record's encoding: 1+1+8+8+2 (empty reason) = 20 → host count.
  CHECK_THAT(with(20, 0), Catch::Contains("route has 0 hosts"));
  CHECK_THAT(with(21, 0), Catch::Contains("host 0 name"));  // name length 0
  CHECK_THAT(with(22, 'M'), Catch::Contains("host 0 name has byte"));
  const std::size_t flags = 21 + 1 + 15 + 2;
  CHECK_THAT(with(flags, 2), Catch::Contains("unknown flags"));
  const std::size_t count = flags + 1 + 8;
  CHECK_THAT(with(count, 65), Catch::Contains("more than 64"));
  CHECK_THAT(with(count + 1, 5), Catch::Contains("family 5"));
  CHECK_THAT(with(count + 1 + 1 + 4, 1), Catch::Contains("beyond its first 4"));

  DnsCacheRecord reason = sample_record();
  reason.reason = std::string("bad\nreason");
  CHECK_THAT(encode_dns_cache_record(reason).error, Catch::Contains("printable"));
  reason.reason = std::string(kMaxDnsReasonBytes + 1, 'x');
  CHECK_FALSE(encode_dns_cache_record(reason).ok());
}
