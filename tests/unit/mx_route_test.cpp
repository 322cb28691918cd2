#include "dns/mx_route.h"

#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

MxAnswer mx_answer(std::vector<MxRecord> records) {
  MxAnswer answer;
  answer.outcome = DnsOutcome::records;
  answer.rcode = DnsRcode::noerror;
  answer.records = std::move(records);
  answer.ttl = 300;
  return answer;
}

MxAnswer outcome_only(DnsOutcome outcome) {
  MxAnswer answer;
  answer.outcome = outcome;
  return answer;
}

// Always the first candidate: Fisher–Yates then rotates each group by one.
const PickIndex kPickFirst = [](std::size_t) { return std::size_t{0}; };
// Always the last candidate: the order is kept.
const PickIndex kPickLast = [](std::size_t n) { return n - 1; };

std::vector<std::string> names(const MxRoute& route) {
  std::vector<std::string> out;
  for (const RouteHost& h : route.hosts)
    out.push_back(h.name);
  return out;
}

}  // namespace

TEST_CASE("MX hosts are ordered by preference", "[dns]") {
  const MxRoute route = route_domain(
      "example.com",
      mx_answer({{20, "c.example.com"}, {10, "a.example.com"}, {30, "d.example.com"}}), kPickLast);
  REQUIRE(route.status == RouteStatus::route);
  CHECK(names(route) ==
        std::vector<std::string>{"a.example.com", "c.example.com", "d.example.com"});
  CHECK(route.hosts[0].preference == 10);
  CHECK_FALSE(route.hosts[0].implicit);
  CHECK(route.notes.empty());
}

TEST_CASE("equal preferences are shuffled by the injected random source, groups stay in order",
          "[dns]") {
  const MxAnswer answer = mx_answer(
      {{10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {20, "z.test"}, {5, "first.test"}});
  CHECK(names(route_domain("example.com", answer, kPickLast)) ==
        std::vector<std::string>{"first.test", "a.test", "b.test", "c.test", "z.test"});
  CHECK(names(route_domain("example.com", answer, kPickFirst)) ==
        std::vector<std::string>{"first.test", "b.test", "c.test", "a.test", "z.test"});
  // Every order of the three equal hosts appears, and the others never move.
  std::mt19937 rng(42);
  const PickIndex pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::set<std::vector<std::string>> orders;
  for (int i = 0; i < 200; ++i) {
    const std::vector<std::string> order = names(route_domain("example.com", answer, pick));
    REQUIRE(order.front() == "first.test");
    REQUIRE(order.back() == "z.test");
    orders.insert(order);
  }
  CHECK(orders.size() == 6);
  // An out-of-range pick is reduced, never trusted.
  const PickIndex wild = [](std::size_t) { return std::size_t{1000}; };
  CHECK(route_domain("example.com", answer, wild).hosts.size() == 5);
}

TEST_CASE("a null MX is a permanent failure", "[dns]") {
  const MxRoute route = route_domain("example.com", mx_answer({{0, "."}}), kPickLast);
  CHECK(route.status == RouteStatus::permanent_failure);
  CHECK_THAT(route.reason, Catch::Contains("does not accept mail"));
  CHECK(route.hosts.empty());
}

TEST_CASE("a '.' among other MX records is skipped, not a null MX", "[dns]") {
  const MxRoute route =
      route_domain("example.com", mx_answer({{0, "."}, {10, "mx.example.com"}}), kPickLast);
  REQUIRE(route.status == RouteStatus::route);
  CHECK(names(route) == std::vector<std::string>{"mx.example.com"});
  REQUIRE(route.notes.size() == 1);
  CHECK_THAT(route.notes[0], Catch::Contains("null MX"));
  // A lone "." at another preference is not RFC 7505's null MX: nothing usable, so temporary.
  CHECK(route_domain("example.com", mx_answer({{10, "."}}), kPickLast).status ==
        RouteStatus::temporary_failure);
}

TEST_CASE("NXDOMAIN is permanent; NODATA routes to the domain itself", "[dns]") {
  const MxRoute nx = route_domain("example.com", outcome_only(DnsOutcome::nxdomain), kPickLast);
  CHECK(nx.status == RouteStatus::permanent_failure);
  CHECK_THAT(nx.reason, Catch::Contains("NXDOMAIN"));

  const MxRoute implicit = route_domain("example.com", outcome_only(DnsOutcome::nodata), kPickLast);
  REQUIRE(implicit.status == RouteStatus::route);
  REQUIRE(implicit.hosts.size() == 1);
  CHECK(implicit.hosts[0] == RouteHost{"example.com", 0, true});
}

TEST_CASE("resolver trouble is a temporary failure", "[dns]") {
  for (DnsOutcome outcome :
       {DnsOutcome::servfail, DnsOutcome::refused, DnsOutcome::other_rcode, DnsOutcome::timeout,
        DnsOutcome::resolver_error, DnsOutcome::malformed}) {
    CAPTURE(to_string(outcome));
    const MxRoute route = route_domain("example.com", outcome_only(outcome), kPickLast);
    CHECK(route.status == RouteStatus::temporary_failure);
    CHECK_FALSE(route.reason.empty());
    CHECK(route.hosts.empty());
  }
}

TEST_CASE("IP-address and localhost exchanges are skipped with a note", "[dns]") {
  const MxRoute route = route_domain("example.com",
                                     mx_answer({{5, "192.0.2.1"},
                                                {5, "2001:db8::1"},
                                                {6, "localhost"},
                                                {7, "mx.localhost"},
                                                {8, "bad_name!.example.com"},
                                                {10, "MX.Example.COM"}}),
                                     kPickLast);
  REQUIRE(route.status == RouteStatus::route);
  CHECK(names(route) == std::vector<std::string>{"mx.example.com"});
  CHECK(route.notes.size() == 5);

  const MxRoute none =
      route_domain("example.com", mx_answer({{5, "192.0.2.1"}, {6, "localhost"}}), kPickLast);
  CHECK(none.status == RouteStatus::temporary_failure);
  CHECK(none.reason == "no usable MX host");
  CHECK(none.notes.size() == 2);

  // Implicit MX for a domain that is itself unusable as a host.
  CHECK(route_domain("localhost", outcome_only(DnsOutcome::nodata), kPickLast).status ==
        RouteStatus::temporary_failure);
}

TEST_CASE("duplicate exchanges keep their lowest preference; the host list is bounded", "[dns]") {
  const MxRoute route = route_domain(
      "example.com", mx_answer({{20, "mx.example.com"}, {10, "mx.example.com."}, {15, "b.test"}}),
      kPickLast);
  CHECK(names(route) == std::vector<std::string>{"mx.example.com", "b.test"});
  CHECK(route.hosts[0].preference == 10);

  std::vector<MxRecord> many;
  for (int i = 0; i < 40; ++i)
    many.push_back({static_cast<std::uint16_t>(i), "mx" + std::to_string(i) + ".test"});
  const MxRoute bounded = route_domain("example.com", mx_answer(many), kPickLast);
  CHECK(bounded.hosts.size() == kMaxRouteHosts);
  CHECK(bounded.hosts.back().name == "mx15.test");
}
