// DomainResolver against FakeResolver: MX → route → A/AAAA per host → one DomainResolution, with
// the test firing each DNS answer; and the relay-host variant.
#include "dns/domain_resolver.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fakes/fake_resolver.h"

using namespace bulkq;
using bulkq::testing::FakeResolver;

namespace {

const IpAddress kV4a = IpAddress::v4({192, 0, 2, 1});
const IpAddress kV4b = IpAddress::v4({192, 0, 2, 2});
const IpAddress kV6a = IpAddress::v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});

// Keeps the order the answers gave (no shuffling).
std::size_t first_index(std::size_t /*n*/) {
  return 0;
}

struct Outcome {
  int calls = 0;
  DomainResolution resolution;
  DomainResolutionCallback callback() {
    return [this](DomainResolution r) {
      ++calls;
      resolution = std::move(r);
    };
  }
};

std::vector<std::string> host_names(const DomainResolution& r) {
  std::vector<std::string> names;
  for (const RouteHost& h : r.route.hosts)
    names.push_back(h.name);
  return names;
}

}  // namespace

TEST_CASE("MX hosts are resolved to addresses, A and AAAA in parallel", "[dns]") {
  FakeResolver dns;
  dns.set_mx("example.test", {{20, "mx2.example.test"}, {10, "mx1.example.test"}}, 3600);
  dns.set_addresses("mx1.example.test", QueryType::a, {kV4a}, 600);
  dns.set_addresses("mx1.example.test", QueryType::aaaa, {kV6a}, 300);
  dns.set_host("mx2.example.test", kV4b, 900);
  DomainResolver resolver(dns, first_index);
  Outcome out;
  resolver.resolve_domain("example.test", out.callback());
  CHECK(out.calls == 0);  // nothing before the answers
  CHECK(resolver.in_flight() == 1);
  REQUIRE(dns.answer_next());  // the MX answer starts the address lookups, all at once
  CHECK(dns.pending() == 4);
  CHECK(out.calls == 0);
  dns.answer_all();
  REQUIRE(out.calls == 1);
  CHECK(resolver.in_flight() == 0);

  const DomainResolution& r = out.resolution;
  REQUIRE(r.route.status == RouteStatus::route);
  CHECK(host_names(r) == std::vector<std::string>{"mx1.example.test", "mx2.example.test"});
  CHECK(r.ttl == 3600u);
  CHECK_FALSE(r.negative);
  REQUIRE(r.hosts.size() == 2);
  CHECK(r.hosts[0].host == "mx1.example.test");
  CHECK(r.hosts[0].addresses == std::vector<IpAddress>{kV6a, kV4a});  // IPv6 first by default
  CHECK(r.hosts[0].ttl == 300u);                                      // the smaller TTL
  CHECK(r.hosts[1].addresses == std::vector<IpAddress>{kV4b});
  CHECK(r.hosts[1].ttl == 900u);  // AAAA NODATA does not shorten a host with addresses
  CHECK(dns.queries("example.test", QueryType::mx) == 1);
  CHECK(dns.total_queries() == 5);
}

TEST_CASE("address family options: IPv4 first, or no AAAA lookups at all", "[dns]") {
  FakeResolver dns;
  dns.set_mx("example.test", {{10, "mx.example.test"}});
  dns.set_addresses("mx.example.test", QueryType::a, {kV4a});
  dns.set_addresses("mx.example.test", QueryType::aaaa, {kV6a});
  Outcome out;
  SECTION("prefer IPv4") {
    DomainResolver resolver(dns, first_index, DomainResolverOptions{true, true});
    resolver.resolve_domain("example.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a, kV6a});
  }
  SECTION("IPv6 off") {
    DomainResolver resolver(dns, first_index, DomainResolverOptions{false, false});
    resolver.resolve_domain("example.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
    CHECK(dns.queries("mx.example.test", QueryType::aaaa) == 0);
  }
}

TEST_CASE("no MX records: the domain itself is the host (implicit MX)", "[dns]") {
  FakeResolver dns;
  dns.set_outcome("example.test", QueryType::mx, DnsOutcome::nodata, 120);
  dns.set_host("example.test", kV4a, 600);
  DomainResolver resolver(dns, first_index);
  Outcome out;
  resolver.resolve_domain("example.test", out.callback());
  dns.answer_all();
  REQUIRE(out.calls == 1);
  const DomainResolution& r = out.resolution;
  REQUIRE(r.route.status == RouteStatus::route);
  REQUIRE(r.route.hosts.size() == 1);
  CHECK(r.route.hosts[0].implicit);
  CHECK(r.route.hosts[0].name == "example.test");
  CHECK(r.negative);  // the MX part is a negative answer, believed for the SOA's TTL
  CHECK(r.ttl == 120u);
  CHECK(r.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
}

TEST_CASE("permanent failures: NXDOMAIN, null MX, implicit MX without addresses", "[dns]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  Outcome out;
  SECTION("NXDOMAIN") {
    dns.set_outcome("gone.test", QueryType::mx, DnsOutcome::nxdomain, 900);
    resolver.resolve_domain("gone.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::permanent_failure);
    CHECK_THAT(out.resolution.route.reason, Catch::Contains("NXDOMAIN"));
    CHECK(out.resolution.negative);
    CHECK(out.resolution.ttl == 900u);
    CHECK(dns.total_queries() == 1);  // no address lookups
  }
  SECTION("null MX") {
    dns.set_mx("nomail.test", {{0, "."}});
    resolver.resolve_domain("nomail.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::permanent_failure);
    CHECK_THAT(out.resolution.route.reason, Catch::Contains("null MX"));
    CHECK(dns.total_queries() == 1);
  }
  SECTION("no MX and no address records") {
    dns.set_outcome("bare.test", QueryType::mx, DnsOutcome::nodata, 600);
    dns.set_outcome("bare.test", QueryType::a, DnsOutcome::nodata, 300);
    dns.set_outcome("bare.test", QueryType::aaaa, DnsOutcome::nodata, 200);
    resolver.resolve_domain("bare.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::permanent_failure);
    CHECK(out.resolution.negative);
    CHECK(out.resolution.ttl == 200u);
    CHECK(out.resolution.hosts.empty());
  }
}

TEST_CASE("temporary failures: SERVFAIL, timeouts, MX hosts without addresses", "[dns]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  Outcome out;
  SECTION("SERVFAIL on the MX lookup") {
    dns.set_outcome("broken.test", QueryType::mx, DnsOutcome::servfail);
    resolver.resolve_domain("broken.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::temporary_failure);
    CHECK_FALSE(out.resolution.negative);
  }
  SECTION("every address lookup times out") {
    dns.set_mx("slow.test", {{10, "mx.slow.test"}});
    dns.set_outcome("mx.slow.test", QueryType::a, DnsOutcome::timeout);
    dns.set_outcome("mx.slow.test", QueryType::aaaa, DnsOutcome::timeout);
    resolver.resolve_domain("slow.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::temporary_failure);
    CHECK_THAT(out.resolution.route.reason, Catch::Contains("mx.slow.test"));
    CHECK(out.resolution.hosts.empty());
  }
  SECTION("MX hosts that do not exist") {
    dns.set_mx("typo.test", {{10, "mx.typo.test"}});
    dns.set_outcome("mx.typo.test", QueryType::a, DnsOutcome::nxdomain, 60);
    dns.set_outcome("mx.typo.test", QueryType::aaaa, DnsOutcome::nxdomain, 60);
    resolver.resolve_domain("typo.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::temporary_failure);
    CHECK(out.resolution.route.reason == "no MX host has an address");
  }
  SECTION("one host fails, the other answers: the route stands") {
    dns.set_mx("half.test", {{10, "a.half.test"}, {20, "b.half.test"}});
    dns.set_outcome("a.half.test", QueryType::a, DnsOutcome::servfail);
    dns.set_outcome("a.half.test", QueryType::aaaa, DnsOutcome::servfail);
    dns.set_host("b.half.test", kV4b);
    resolver.resolve_domain("half.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    REQUIRE(out.resolution.route.status == RouteStatus::route);
    REQUIRE(out.resolution.hosts.size() == 2);
    CHECK(out.resolution.hosts[0].addresses.empty());
    CHECK_FALSE(out.resolution.hosts[0].ttl.has_value());  // failed: the cache retries soon
    CHECK(out.resolution.hosts[1].addresses == std::vector<IpAddress>{kV4b});
  }
  SECTION("one family fails: the addresses found are kept, for a short while") {
    dns.set_mx("v6broken.test", {{10, "mx.v6broken.test"}});
    dns.set_addresses("mx.v6broken.test", QueryType::a, {kV4a}, 3600);
    dns.set_outcome("mx.v6broken.test", QueryType::aaaa, DnsOutcome::timeout);
    resolver.resolve_domain("v6broken.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    REQUIRE(out.resolution.route.status == RouteStatus::route);
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
    CHECK(out.resolution.hosts.at(0).ttl == kPartialAnswerTtlSeconds);
  }
}

TEST_CASE("answers may come in any order", "[dns]") {
  FakeResolver dns;
  dns.set_mx("example.test", {{10, "mx.example.test"}});
  dns.set_host("mx.example.test", kV4a);
  DomainResolver resolver(dns, first_index);
  Outcome out;
  resolver.resolve_domain("example.test", out.callback());
  REQUIRE(dns.answer("example.test", QueryType::mx));
  REQUIRE(dns.answer("mx.example.test", QueryType::aaaa));
  CHECK(out.calls == 0);
  REQUIRE(dns.answer("mx.example.test", QueryType::a));
  REQUIRE(out.calls == 1);
  CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
}

TEST_CASE("destroying the DomainResolver drops callbacks in flight", "[dns]") {
  FakeResolver dns;
  dns.set_mx("example.test", {{10, "mx.example.test"}});
  dns.set_host("mx.example.test", kV4a);
  Outcome out;
  {
    DomainResolver resolver(dns, first_index);
    resolver.resolve_domain("example.test", out.callback());
    REQUIRE(dns.answer_next());  // the address lookups are in flight now
  }
  CHECK(dns.answer_all() == 2);
  CHECK(out.calls == 0);
  CHECK(dns.total_queries() == 3);
}

TEST_CASE("a relay host is resolved without an MX lookup", "[dns]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  Outcome out;
  SECTION("a host name") {
    dns.set_host("relay.example.test", kV4a, 600);
    resolver.resolve_relay("Relay.Example.Test.", out.callback());
    CHECK(out.calls == 0);
    dns.answer_all();
    REQUIRE(out.calls == 1);
    REQUIRE(out.resolution.route.status == RouteStatus::route);
    CHECK(host_names(out.resolution) == std::vector<std::string>{"relay.example.test"});
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
    CHECK(out.resolution.ttl == 600u);
    CHECK(dns.queries("relay.example.test", QueryType::mx) == 0);
  }
  SECTION("IP literals are answered at once, without lookups") {
    resolver.resolve_relay("[192.0.2.1]", out.callback());
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV4a});
    CHECK(host_names(out.resolution) == std::vector<std::string>{"192.0.2.1"});
    resolver.resolve_relay("[IPv6:2001:db8::1]", out.callback());
    REQUIRE(out.calls == 2);
    CHECK(out.resolution.hosts.at(0).addresses == std::vector<IpAddress>{kV6a});
    resolver.resolve_relay("2001:db8::1", out.callback());
    REQUIRE(out.calls == 3);
    CHECK(out.resolution.hosts.at(0).host == "2001:db8::1");
    CHECK(dns.total_queries() == 0);
  }
  SECTION("a relay that does not exist is a temporary failure") {
    dns.set_outcome("gone.example.test", QueryType::a, DnsOutcome::nxdomain, 60);
    dns.set_outcome("gone.example.test", QueryType::aaaa, DnsOutcome::nxdomain, 60);
    resolver.resolve_relay("gone.example.test", out.callback());
    dns.answer_all();
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::temporary_failure);
    CHECK_THAT(out.resolution.route.reason, Catch::Contains("relay host gone.example.test"));
  }
  SECTION("a relay that is not a host name fails at once") {
    resolver.resolve_relay("bad host!", out.callback());
    REQUIRE(out.calls == 1);
    CHECK(out.resolution.route.status == RouteStatus::temporary_failure);
    CHECK(dns.total_queries() == 0);
  }
}
