// RetrySchedule: when a deferred recipient, or a whole destination domain, may be tried again,
// and when a message has been queued too long and must bounce instead.
//
// Pure: no clock, no thread, no global randomness. Time comes in as TimePoint/Duration and the
// jitter comes from a RetryRandom the caller seeds (the scheduler thread owns one; tests seed it
// with a constant), so every schedule is reproducible. A RetrySchedule is immutable and may be
// shared by any threads; a RetryRandom or a DomainBackoff belongs to the thread that uses it (the
// scheduler thread).
//
// Promised: a delay is never shorter than its range's minimum nor longer than its maximum, and
// the maximum never exceeds the cap, whatever the attempt count (no overflow at attempt 10^9).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/clock.h"

namespace bulkq {

// How a delay d = min(cap, base * 2^(n-1)) is spread.
enum class Jitter : std::uint8_t {
  // Uniform in [d/2, d]: the default. A retry never comes sooner than half the nominal delay, so
  // a greylisting or rate-limiting server always gets a real pause, while the thousands of
  // recipients of one campaign deferred in the same second spread over half the interval instead
  // of coming back all at once.
  equal,
  // Uniform in [0, d]: spreads the most, but may retry almost at once after a 4xx.
  full,
};

struct RetryPolicy {
  // Per recipient, after a 4xx or a failed transaction (Postfix: minimal/maximal_backoff_time).
  Duration base = std::chrono::minutes(5);
  Duration cap = std::chrono::hours(4);
  // Per domain, after a 421, a refused or timed-out connection or a lost session: short at first
  // (a single MX restart), growing while the domain keeps failing.
  Duration domain_base = std::chrono::minutes(1);
  Duration domain_cap = std::chrono::hours(1);
  // Past this age a message that still has unfinished recipients bounces them
  // (Postfix: maximal_queue_lifetime).
  Duration max_lifetime = std::chrono::hours(24 * 5);
  Jitter jitter = Jitter::equal;
};

// Empty when the policy is usable; otherwise what is wrong with it, for the config error.
[[nodiscard]] std::string retry_policy_error(const RetryPolicy& policy);

// A small, fast, seedable generator (SplitMix64). Chosen over <random> engines plus
// distributions because its output is the same on every standard library, so tests can assert
// exact delays and a schedule seen in a log can be reproduced.
class RetryRandom {
 public:
  explicit RetryRandom(std::uint64_t seed) : state_(seed) {}
  [[nodiscard]] std::uint64_t next();
  // Uniform in [low, high] (high < low yields low). The modulo bias is below 2^-40 for any range
  // of milliseconds this schedule uses.
  [[nodiscard]] Duration between(Duration low, Duration high);

 private:
  std::uint64_t state_;
};

struct DelayRange {
  Duration min;
  Duration max;
  friend bool operator==(const DelayRange&, const DelayRange&) = default;
};

class RetrySchedule {
 public:
  // A policy that fails retry_policy_error() is still used safely: non-positive durations are
  // raised to 1 ms and a cap below its base is raised to the base.
  explicit RetrySchedule(RetryPolicy policy = {});

  // The range a recipient's next delay is drawn from after `attempts` failed attempts (0 is
  // treated as 1: the first retry).
  [[nodiscard]] DelayRange recipient_range(std::uint32_t attempts) const;
  [[nodiscard]] Duration recipient_delay(std::uint32_t attempts, RetryRandom& random) const;
  // When the recipient may be tried again: now + its delay.
  [[nodiscard]] TimePoint next_attempt(TimePoint now, std::uint32_t attempts,
                                       RetryRandom& random) const;

  // The same for a domain after `consecutive_failures` (0 is treated as 1).
  [[nodiscard]] DelayRange domain_range(std::uint32_t consecutive_failures) const;
  [[nodiscard]] Duration domain_delay(std::uint32_t consecutive_failures,
                                      RetryRandom& random) const;

  // True once a message that arrived at `arrived` has been queued for max_lifetime or longer:
  // its unfinished recipients bounce with an "expired" reason instead of being retried.
  [[nodiscard]] bool expired(TimePoint arrived, TimePoint now) const;

  [[nodiscard]] const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
};

// One destination domain's backoff state: how many connection-level failures in a row, and the
// time before which no new connection should be opened. Value type, owned by whoever owns the
// domain's queue (the scheduler thread).
class DomainBackoff {
 public:
  // Counts one more failure and moves the backoff end to now + the drawn domain delay. Returns
  // that end.
  TimePoint record_failure(TimePoint now, const RetrySchedule& schedule, RetryRandom& random);
  // A transaction got through: the domain is healthy again, the next failure starts from base.
  void record_success() {
    failures_ = 0;
    until_ = TimePoint{};
  }
  [[nodiscard]] bool backing_off(TimePoint now) const { return now < until_; }
  [[nodiscard]] TimePoint until() const { return until_; }
  [[nodiscard]] std::uint32_t consecutive_failures() const { return failures_; }

 private:
  std::uint32_t failures_ = 0;
  TimePoint until_{};
};

}  // namespace bulkq
