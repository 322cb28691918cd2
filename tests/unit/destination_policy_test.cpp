// DestinationPolicies: which [shaping.domain] entry a domain gets.
#include "delivery/destination_policy.h"

#include <catch2/catch.hpp>

using namespace bulkq;

namespace {
DestinationPolicy named(std::string pattern, std::uint32_t max_connections) {
  DestinationPolicy policy;
  policy.pattern = std::move(pattern);
  policy.limits.max_connections = max_connections;
  return policy;
}
}  // namespace

TEST_CASE("destination policy: exact, then the longest *.suffix, then the default",
          "[shaping][policy]") {
  const DestinationPolicies policies(
      named("ignored", 8),
      {named("example.com", 1), named("*.example.com", 2), named("*.b.example.com", 3),
       named("*.test", 4), named("example.com", 99)});  // a duplicate: ignored
  REQUIRE(policies.size() == 5);
  CHECK(policies[0].pattern.empty());
  CHECK(policies[0].limits.max_connections == 8);
  const auto limit = [&](std::string_view domain) {
    return policies[policies.find(domain)].limits.max_connections;
  };
  CHECK(limit("example.com") == 1);
  CHECK(limit("a.example.com") == 2);
  CHECK(limit("x.a.example.com") == 2);
  CHECK(limit("b.example.com") == 2);  // "*.b.example.com" covers only b's subdomains
  CHECK(limit("c.b.example.com") == 3);
  CHECK(limit("x.test") == 4);
  CHECK(limit("test") == 8);
  CHECK(limit("example.org") == 8);
  CHECK(limit("notexample.com") == 8);  // a suffix only at a label boundary

  const DestinationPolicies none;
  CHECK(none.size() == 1);
  CHECK(none.find("example.com") == 0);
}
