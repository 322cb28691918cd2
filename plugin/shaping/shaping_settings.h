// From the configuration's [shaping] and [delivery] to what the delivery engine works with: the
// response rules in the order they are tried, and the destination policies.
#pragma once

#include <vector>

#include "config/config.h"
#include "delivery/destination_policy.h"
#include "shaping/response_rules.h"

namespace bulkq {

[[nodiscard]] TlsPolicy tls_policy_of(TlsSetting tls);

// The file's [[shaping.rules]] in file order, then (default_rules) the built-in ones.
[[nodiscard]] std::vector<ResponseRule> response_rules_of(const ShapingConfig& shaping);

// The retry policy of [delivery]'s retry keys.
[[nodiscard]] RetryPolicy retry_policy_of(const DeliveryConfig& delivery);

// The controller's settings of [shaping]; max_connections is [delivery]'s
// max_connections_per_domain, max_rate [shaping]'s max_rate (0: none).
[[nodiscard]] ShapingLimits shaping_limits_of(const Config& config);

// One policy per [shaping.domain] entry, in pattern order, its unset keys filled from the
// general ones (the default policy itself is the delivery engine's options).
[[nodiscard]] std::vector<DestinationPolicy> destination_policies_of(const Config& config);

}  // namespace bulkq
