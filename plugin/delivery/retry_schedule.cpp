#include "delivery/retry_schedule.h"

#include <algorithm>

namespace bulkq {
namespace {

constexpr Duration kMinimum{1};

Duration at_least_minimum(Duration d) {
  return std::max(d, kMinimum);
}

// min(cap, base * 2^(n-1)), doubling only while below the cap so nothing overflows.
Duration nominal_delay(Duration base, Duration cap, std::uint32_t n) {
  Duration d = base;
  for (std::uint32_t i = 1; i < n && d < cap; ++i) {
    if (d > cap / 2) return cap;
    d *= 2;
  }
  return std::min(d, cap);
}

DelayRange jittered(Duration nominal, Jitter jitter) {
  if (jitter == Jitter::full) return {Duration{0}, nominal};
  return {nominal - nominal / 2, nominal};  // ceil(d/2): an odd millisecond stays in the range
}

}  // namespace

std::string retry_policy_error(const RetryPolicy& policy) {
  if (policy.base <= Duration{0}) return "retry base must be positive";
  if (policy.cap < policy.base) return "retry cap must not be below the retry base";
  if (policy.domain_base <= Duration{0}) return "domain backoff base must be positive";
  if (policy.domain_cap < policy.domain_base) {
    return "domain backoff cap must not be below the domain backoff base";
  }
  if (policy.max_lifetime <= Duration{0}) return "maximum queue lifetime must be positive";
  return {};
}

std::uint64_t RetryRandom::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Duration RetryRandom::between(Duration low, Duration high) {
  if (high <= low) return low;
  const auto span = static_cast<std::uint64_t>((high - low).count()) + 1;
  return low + Duration{static_cast<Duration::rep>(next() % span)};
}

RetrySchedule::RetrySchedule(RetryPolicy policy) : policy_(policy) {
  policy_.base = at_least_minimum(policy_.base);
  policy_.cap = std::max(policy_.cap, policy_.base);
  policy_.domain_base = at_least_minimum(policy_.domain_base);
  policy_.domain_cap = std::max(policy_.domain_cap, policy_.domain_base);
  policy_.max_lifetime = at_least_minimum(policy_.max_lifetime);
}

DelayRange RetrySchedule::recipient_range(std::uint32_t attempts) const {
  return jittered(nominal_delay(policy_.base, policy_.cap, std::max(attempts, 1U)), policy_.jitter);
}

Duration RetrySchedule::recipient_delay(std::uint32_t attempts, RetryRandom& random) const {
  const DelayRange range = recipient_range(attempts);
  return random.between(range.min, range.max);
}

TimePoint RetrySchedule::next_attempt(TimePoint now, std::uint32_t attempts,
                                      RetryRandom& random) const {
  return now + recipient_delay(attempts, random);
}

DelayRange RetrySchedule::domain_range(std::uint32_t consecutive_failures) const {
  return jittered(
      nominal_delay(policy_.domain_base, policy_.domain_cap, std::max(consecutive_failures, 1U)),
      policy_.jitter);
}

Duration RetrySchedule::domain_delay(std::uint32_t consecutive_failures,
                                     RetryRandom& random) const {
  const DelayRange range = domain_range(consecutive_failures);
  return random.between(range.min, range.max);
}

bool RetrySchedule::expired(TimePoint arrived, TimePoint now) const {
  // A clock stepped backwards (now < arrived) never expires a message early.
  return now >= arrived && now - arrived >= policy_.max_lifetime;
}

TimePoint DomainBackoff::record_failure(TimePoint now, const RetrySchedule& schedule,
                                        RetryRandom& random) {
  if (failures_ != UINT32_MAX) ++failures_;
  until_ = now + schedule.domain_delay(failures_, random);
  return until_;
}

}  // namespace bulkq
