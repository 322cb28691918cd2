#include "shaping/shaping_settings.h"

#include <chrono>

namespace bulkq {

namespace {

ResponseAction action_of(ShapingRuleAction action) {
  switch (action) {
    case ShapingRuleAction::suspend:
      return ResponseAction::suspend;
    case ShapingRuleAction::scale_rate:
      return ResponseAction::scale_rate;
    case ShapingRuleAction::bounce:
      return ResponseAction::bounce;
  }
  return ResponseAction::suspend;
}

std::optional<double> rate_limit(double rate) {
  return rate > 0 ? std::optional<double>(rate) : std::nullopt;
}

}  // namespace

TlsPolicy tls_policy_of(TlsSetting tls) {
  switch (tls) {
    case TlsSetting::opportunistic:
      return TlsPolicy::opportunistic;
    case TlsSetting::required:
      return TlsPolicy::required;
    case TlsSetting::off:
      return TlsPolicy::off;
  }
  return TlsPolicy::opportunistic;
}

std::vector<ResponseRule> response_rules_of(const ShapingConfig& shaping) {
  std::vector<ResponseRule> rules;
  for (const ShapingRuleSetting& setting : shaping.rules) {
    ResponseRule rule;
    rule.pattern = setting.pattern;
    rule.syntax = setting.regex ? PatternSyntax::regex : PatternSyntax::substring;
    rule.action = action_of(setting.action);
    rule.suspend = std::chrono::seconds(setting.suspend);
    rule.rate_factor = setting.action == ShapingRuleAction::scale_rate ? setting.rate_factor : 1.0;
    rules.push_back(std::move(rule));
  }
  if (shaping.default_rules) {
    for (ResponseRule& rule : default_response_rules())
      rules.push_back(std::move(rule));
  }
  return rules;
}

RetryPolicy retry_policy_of(const DeliveryConfig& delivery) {
  using std::chrono::seconds;
  RetryPolicy retry;
  retry.base = seconds(delivery.retry_min);
  retry.cap = seconds(delivery.retry_max);
  retry.domain_base = seconds(delivery.domain_backoff_min);
  retry.domain_cap = seconds(delivery.domain_backoff_max);
  retry.max_lifetime = seconds(delivery.max_queue_lifetime);
  return retry;
}

ShapingLimits shaping_limits_of(const Config& config) {
  ShapingLimits limits;
  limits.max_connections = config.delivery.max_connections_per_domain;
  limits.max_rate = rate_limit(config.shaping.max_rate);
  limits.initial_connections = config.shaping.initial_connections;
  limits.initial_rate = config.shaping.initial_rate;
  limits.min_rate = config.shaping.min_rate;
  return limits;
}

std::vector<DestinationPolicy> destination_policies_of(const Config& config) {
  using std::chrono::seconds;
  const ShapingLimits general = shaping_limits_of(config);
  const RetryPolicy general_retry = retry_policy_of(config.delivery);
  std::vector<DestinationPolicy> policies;
  for (const DestinationSetting& entry : config.shaping.domains) {
    DestinationPolicy policy;
    policy.pattern = entry.pattern;
    policy.limits = general;
    if (entry.max_connections) policy.limits.max_connections = *entry.max_connections;
    if (entry.max_rate) policy.limits.max_rate = rate_limit(*entry.max_rate);
    policy.adaptive = entry.adaptive.value_or(config.shaping.adaptive);
    policy.max_messages_per_connection =
        entry.max_messages_per_connection.value_or(config.delivery.max_messages_per_connection);
    if (entry.tls) policy.tls = tls_policy_of(*entry.tls);
    policy.retry = general_retry;
    if (entry.retry_min) policy.retry.base = seconds(*entry.retry_min);
    if (entry.retry_max) policy.retry.cap = seconds(*entry.retry_max);
    if (entry.domain_backoff_min) policy.retry.domain_base = seconds(*entry.domain_backoff_min);
    if (entry.domain_backoff_max) policy.retry.domain_cap = seconds(*entry.domain_backoff_max);
    policies.push_back(std::move(policy));
  }
  return policies;
}

}  // namespace bulkq
