#include "delivery/delivery_routes.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dns/domain_resolver.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_resolver.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;
using bulkq::testing::FakeResolver;

namespace {

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return IpAddress::v4({a, b, c, d});
}

IpAddress v6_loopback() {
  std::array<std::uint8_t, 16> bytes{};
  bytes[15] = 1;
  return IpAddress::v6(bytes);
}

CachedHost host(std::string name, std::vector<IpAddress> addresses, std::uint16_t preference = 10) {
  CachedHost h;
  h.name = std::move(name);
  h.preference = preference;
  h.addresses = std::move(addresses);
  return h;
}

DnsCacheLookup lookup(DnsCacheState state, RouteStatus status, std::string reason,
                      std::vector<CachedHost> hosts = {}) {
  DnsCacheLookup l;
  l.state = state;
  l.record.status = status;
  l.record.reason = std::move(reason);
  l.record.hosts = std::move(hosts);
  return l;
}

std::size_t first_index(std::size_t) {
  return 0;
}

// Collects what route() answers.
struct Answers {
  std::vector<RouteAnswer> got;
  std::function<void(RouteAnswer)> collector() {
    return [this](RouteAnswer a) { got.push_back(std::move(a)); };
  }
};

}  // namespace

TEST_CASE("route_answer: a route lists each host's addresses in MX order", "[delivery][routes]") {
  const DnsCacheLookup l = lookup(DnsCacheState::fresh, RouteStatus::route, "",
                                  {host("mx1.x.test", {v6_loopback(), v4(127, 0, 0, 5)}, 10),
                                   host("mx2.x.test", {}, 20),  // no address known: skipped
                                   host("mx3.x.test", {v4(127, 0, 0, 6)}, 30)});
  const RouteAnswer answer = route_answer(l, 2525);
  REQUIRE(answer.kind == RouteAnswer::Kind::route);
  REQUIRE(answer.endpoints.size() == 3);
  CHECK(answer.endpoints[0].address == "::1");
  CHECK(answer.endpoints[1].address == "127.0.0.5");
  CHECK(answer.endpoints[2].address == "127.0.0.6");
  for (const SmtpEndpoint& e : answer.endpoints)
    CHECK(e.port == 2525);
  CHECK(answer.endpoint_hosts ==
        std::vector<std::string>{"mx1.x.test", "mx1.x.test", "mx3.x.test"});
  CHECK(answer.reason.empty());
  CHECK_FALSE(answer.null_mx);
}

TEST_CASE("route_answer: a stale route is still a route", "[delivery][routes]") {
  const RouteAnswer answer = route_answer(
      lookup(DnsCacheState::stale, RouteStatus::route, "", {host("mx.x.test", {v4(127, 0, 0, 5)})}),
      25);
  REQUIRE(answer.kind == RouteAnswer::Kind::route);
  REQUIRE(answer.endpoints.size() == 1);
  CHECK(answer.endpoints[0].port == 25);
}

TEST_CASE("route_answer: permanent failures, with null MX told apart", "[delivery][routes]") {
  const RouteAnswer nxdomain = route_answer(
      lookup(DnsCacheState::fresh, RouteStatus::permanent_failure, "x.test: no such domain"), 25);
  CHECK(nxdomain.kind == RouteAnswer::Kind::permanent_failure);
  CHECK(nxdomain.reason == "x.test: no such domain");
  CHECK_FALSE(nxdomain.null_mx);
  CHECK(nxdomain.endpoints.empty());

  const RouteAnswer null_mx =
      route_answer(lookup(DnsCacheState::fresh, RouteStatus::permanent_failure,
                          "domain does not accept mail (null MX, RFC 7505)"),
                   25);
  CHECK(null_mx.kind == RouteAnswer::Kind::permanent_failure);
  CHECK(null_mx.null_mx);
  CHECK(null_mx.reason == "domain does not accept mail (null MX, RFC 7505)");
}

TEST_CASE("route_answer: temporary failures", "[delivery][routes]") {
  const RouteAnswer servfail = route_answer(
      lookup(DnsCacheState::fresh, RouteStatus::temporary_failure, "x.test: SERVFAIL"), 25);
  CHECK(servfail.kind == RouteAnswer::Kind::temporary_failure);
  CHECK(servfail.reason == "x.test: SERVFAIL");
  CHECK_FALSE(servfail.null_mx);

  const RouteAnswer no_reason =
      route_answer(lookup(DnsCacheState::fresh, RouteStatus::temporary_failure, ""), 25);
  CHECK(no_reason.kind == RouteAnswer::Kind::temporary_failure);
  CHECK(no_reason.reason == "temporary DNS failure");
}

TEST_CASE("route_answer: nothing cached yet is temporary", "[delivery][routes]") {
  // Whatever a missing lookup's record holds, it is not used.
  const RouteAnswer answer = route_answer(lookup(DnsCacheState::missing, RouteStatus::route, "",
                                                 {host("mx.x.test", {v4(127, 0, 0, 5)})}),
                                          25);
  CHECK(answer.kind == RouteAnswer::Kind::temporary_failure);
  CHECK(answer.reason == "no DNS answer yet");
  CHECK(answer.endpoints.empty());
}

TEST_CASE("route_answer: a route without any address is temporary", "[delivery][routes]") {
  const RouteAnswer answer = route_answer(lookup(DnsCacheState::fresh, RouteStatus::route, "",
                                                 {host("mx1.x.test", {}), host("mx2.x.test", {})}),
                                          25);
  CHECK(answer.kind == RouteAnswer::Kind::temporary_failure);
  CHECK(answer.reason == "no address for any MX host");
  CHECK(answer.endpoints.empty());
  CHECK(answer.endpoint_hosts.empty());
}

TEST_CASE("RelayRoutes: an IP literal relay needs no lookup", "[delivery][routes]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "192.0.2.1", 10025);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 1);
  const RouteAnswer& a = answers.got[0];
  REQUIRE(a.kind == RouteAnswer::Kind::route);
  REQUIRE(a.endpoints.size() == 1);
  CHECK(a.endpoints[0].address == "192.0.2.1");
  CHECK(a.endpoints[0].port == 10025);
  CHECK(a.endpoint_hosts == std::vector<std::string>{"192.0.2.1"});
  CHECK(dns.total_queries() == 0);

  // Any domain goes to the same place.
  routes.route("y.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 2);
  CHECK(answers.got[1].endpoints[0].address == "192.0.2.1");
  CHECK(dns.total_queries() == 0);
}

TEST_CASE("RelayRoutes: a bracketed IPv6 relay", "[delivery][routes]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "[IPv6:::1]", 25);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 1);
  REQUIRE(answers.got[0].kind == RouteAnswer::Kind::route);
  CHECK(answers.got[0].endpoints[0].address == "::1");
}

TEST_CASE("RelayRoutes: a host name is looked up once; callers wait for it", "[delivery][routes]") {
  FakeResolver dns;
  dns.set_host("relay.test", v4(127, 0, 0, 9));
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "relay.test", 2525, 5min);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  routes.route("y.test", clock.now(), answers.collector());
  CHECK(answers.got.empty());
  CHECK(dns.queries("relay.test", QueryType::a) == 1);
  dns.answer_all();
  REQUIRE(answers.got.size() == 2);
  for (const RouteAnswer& a : answers.got) {
    REQUIRE(a.kind == RouteAnswer::Kind::route);
    REQUIRE(a.endpoints.size() == 1);
    CHECK(a.endpoints[0].address == "127.0.0.9");
    CHECK(a.endpoints[0].port == 2525);
    CHECK(a.endpoint_hosts == std::vector<std::string>{"relay.test"});
  }
  // Fresh: answered at once, no new lookup.
  clock.advance(4min);
  routes.route("z.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 3);
  CHECK(dns.queries("relay.test", QueryType::a) == 1);
}

TEST_CASE("RelayRoutes: a stale answer is served while it is refreshed", "[delivery][routes]") {
  FakeResolver dns;
  dns.set_host("relay.test", v4(127, 0, 0, 9));
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "relay.test", 25, 5min);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  dns.answer_all();
  REQUIRE(answers.got.size() == 1);

  // Past the refresh time the relay moved, and its DNS then fails.
  clock.advance(6min);
  dns.set_host("relay.test", v4(127, 0, 0, 10));
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 2);  // at once, the stale answer
  CHECK(answers.got[1].endpoints[0].address == "127.0.0.9");
  CHECK(dns.queries("relay.test", QueryType::a) == 2);
  // While the refresh is in flight, no second lookup.
  routes.route("y.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 3);
  CHECK(dns.queries("relay.test", QueryType::a) == 2);
  dns.answer_all();
  CHECK(answers.got.size() == 3);  // the refresh calls nobody back
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 4);
  CHECK(answers.got[3].endpoints[0].address == "127.0.0.10");
  CHECK(dns.queries("relay.test", QueryType::a) == 2);

  // A failed refresh keeps the last good answer.
  clock.advance(6min);
  dns.set_outcome("relay.test", QueryType::a, DnsOutcome::servfail);
  dns.set_outcome("relay.test", QueryType::aaaa, DnsOutcome::servfail);
  routes.route("x.test", clock.now(), answers.collector());
  dns.answer_all();
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 6);
  CHECK(answers.got[4].kind == RouteAnswer::Kind::route);
  CHECK(answers.got[5].kind == RouteAnswer::Kind::route);
  CHECK(answers.got[5].endpoints[0].address == "127.0.0.10");
  // Still stale: every route() asks again.
  CHECK(dns.queries("relay.test", QueryType::a) == 4);
}

TEST_CASE("RelayRoutes: a relay that never resolved fails temporarily", "[delivery][routes]") {
  FakeResolver dns;
  dns.set_outcome("relay.test", QueryType::a, DnsOutcome::nxdomain, 60);
  dns.set_outcome("relay.test", QueryType::aaaa, DnsOutcome::nxdomain, 60);
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "relay.test", 25);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  dns.answer_all();
  REQUIRE(answers.got.size() == 1);
  CHECK(answers.got[0].kind == RouteAnswer::Kind::temporary_failure);
  CHECK(answers.got[0].reason.rfind("relay relay.test: ", 0) == 0);
  CHECK(answers.got[0].endpoints.empty());

  // Not remembered: the next route() asks again, and gets the repaired answer.
  dns.set_host("relay.test", v4(127, 0, 0, 9));
  routes.route("x.test", clock.now(), answers.collector());
  dns.answer_all();
  REQUIRE(answers.got.size() == 2);
  CHECK(answers.got[1].kind == RouteAnswer::Kind::route);
}

TEST_CASE("RelayRoutes: a relay name that is no host name fails temporarily",
          "[delivery][routes]") {
  FakeResolver dns;
  DomainResolver resolver(dns, first_index);
  FakeClock clock;
  RelayRoutes routes(resolver, "bad host!", 25);
  Answers answers;
  routes.route("x.test", clock.now(), answers.collector());
  REQUIRE(answers.got.size() == 1);
  CHECK(answers.got[0].kind == RouteAnswer::Kind::temporary_failure);
  CHECK(dns.total_queries() == 0);
}
