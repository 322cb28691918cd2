// DestinationPolicies: which [shaping.domain] entry a domain gets; and the [shaping] settings
// the delivery engine is given.
#include "delivery/destination_policy.h"

#include <catch2/catch.hpp>
#include <chrono>

#include "config/config_parser.h"
#include "shaping/shaping_settings.h"

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

TEST_CASE("shaping settings: [shaping] and [delivery] become policies and rules",
          "[shaping][policy]") {
  const ConfigResult parsed = parse_config(R"(
[delivery]
max_connections_per_domain = 6
max_messages_per_connection = 500
retry_min = 120
tls = "off"
[shaping]
max_rate = 100
initial_connections = 3
[[shaping.rules]]
pattern = "slow down"
action = "scale_rate"
rate_factor = 0.5
[shaping.domain."*.example.com"]
max_connections = 2
max_rate = 0
tls = "required"
retry_max = 600
adaptive = false
)",
                                           "bulkq.toml");
  REQUIRE(parsed.ok());
  const Config& config = parsed.config;

  const ShapingLimits general = shaping_limits_of(config);
  CHECK(general.max_connections == 6);
  CHECK(general.max_rate == 100.0);
  CHECK(general.initial_connections == 3);

  const std::vector<DestinationPolicy> policies = destination_policies_of(config);
  REQUIRE(policies.size() == 1);
  const DestinationPolicy& p = policies[0];
  CHECK(p.pattern == "*.example.com");
  CHECK(p.limits.max_connections == 2);
  CHECK_FALSE(p.limits.max_rate);  // 0: no limit, not the general 100
  CHECK(p.limits.initial_connections == 3);
  CHECK_FALSE(p.adaptive);
  CHECK(p.max_messages_per_connection == 500);
  CHECK(p.tls == TlsPolicy::required);
  CHECK(p.retry.base == std::chrono::seconds(120));  // [delivery]'s
  CHECK(p.retry.cap == std::chrono::seconds(600));   // its own

  const std::vector<ResponseRule> rules = response_rules_of(config.shaping);
  REQUIRE(rules.size() == 1 + default_response_rules().size());
  CHECK(rules[0].pattern == "slow down");  // the file's own first
  CHECK(rules[0].action == ResponseAction::scale_rate);
  CHECK(rules[0].rate_factor == 0.5);
  CHECK(rules[1] == default_response_rules()[0]);

  ShapingConfig without = config.shaping;
  without.default_rules = false;
  CHECK(response_rules_of(without).size() == 1);
}
