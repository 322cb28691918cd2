#include "delivery/retry_schedule.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

struct Row {
  std::uint32_t attempts;
  Duration min;
  Duration max;
};

const TimePoint kT0 = TimePoint{} + std::chrono::hours(24 * 20000);

}  // namespace

TEST_CASE("recipient retry delays follow the schedule (equal jitter, defaults)", "[delivery]") {
  const RetrySchedule schedule;
  const std::vector<Row> table = {
      {0, 150s, 5min},  // the first retry, whatever the caller counted
      {1, 150s, 5min},     {2, 5min, 10min},     {3, 10min, 20min},
      {4, 20min, 40min},   {5, 40min, 80min},    {6, 80min, 160min},
      {7, 120min, 240min},  // capped at 4 h
      {8, 120min, 240min}, {64, 120min, 240min}, {4000000000U, 120min, 240min},
  };
  for (const Row& row : table) {
    INFO("attempts " << row.attempts);
    const DelayRange range = schedule.recipient_range(row.attempts);
    CHECK(range.min == row.min);
    CHECK(range.max == row.max);
  }
}

TEST_CASE("full jitter starts every range at zero", "[delivery]") {
  RetryPolicy policy;
  policy.jitter = Jitter::full;
  const RetrySchedule schedule(policy);
  const std::vector<Row> table = {
      {1, 0s, 5min}, {2, 0s, 10min}, {6, 0s, 160min}, {7, 0s, 4h}, {30, 0s, 4h}};
  for (const Row& row : table) {
    INFO("attempts " << row.attempts);
    CHECK(schedule.recipient_range(row.attempts) == DelayRange{row.min, row.max});
  }
}

TEST_CASE("domain backoff delays have their own base and cap", "[delivery]") {
  const RetrySchedule schedule;
  const std::vector<Row> table = {
      {0, 30s, 1min},    {1, 30s, 1min},       {2, 1min, 2min},   {3, 2min, 4min},
      {4, 4min, 8min},   {5, 8min, 16min},     {6, 16min, 32min}, {7, 30min, 60min},
      {8, 30min, 60min}, {1000, 30min, 60min},
  };
  for (const Row& row : table) {
    INFO("failures " << row.attempts);
    CHECK(schedule.domain_range(row.attempts) == DelayRange{row.min, row.max});
  }
}

TEST_CASE("drawn delays stay in their range and are reproducible from the seed", "[delivery]") {
  const RetrySchedule schedule;
  RetryRandom a(42);
  RetryRandom b(42);
  bool low_half = false;
  bool high_half = false;
  for (std::uint32_t attempts = 1; attempts <= 10; ++attempts) {
    const DelayRange range = schedule.recipient_range(attempts);
    for (int i = 0; i < 200; ++i) {
      const Duration d = schedule.recipient_delay(attempts, a);
      REQUIRE(d >= range.min);
      REQUIRE(d <= range.max);
      CHECK(d == schedule.recipient_delay(attempts, b));
      const Duration middle = range.min + (range.max - range.min) / 2;
      (d < middle ? low_half : high_half) = true;
    }
  }
  CHECK(low_half);  // the jitter really spreads
  CHECK(high_half);
  RetryRandom other(43);
  RetryRandom again(42);
  CHECK(other.next() != again.next());
}

TEST_CASE("the next attempt is now plus the drawn delay", "[delivery]") {
  const RetrySchedule schedule;
  RetryRandom random(7);
  RetryRandom same(7);
  const TimePoint next = schedule.next_attempt(kT0, 3, random);
  CHECK(next == kT0 + schedule.recipient_delay(3, same));
  CHECK(next >= kT0 + 10min);
  CHECK(next <= kT0 + 20min);
}

TEST_CASE("RetryRandom::between covers its bounds and handles empty ranges", "[delivery]") {
  RetryRandom random(1);
  bool saw_low = false;
  bool saw_high = false;
  for (int i = 0; i < 1000; ++i) {
    const Duration d = random.between(Duration{10}, Duration{12});
    REQUIRE(d >= Duration{10});
    REQUIRE(d <= Duration{12});
    saw_low = saw_low || d == Duration{10};
    saw_high = saw_high || d == Duration{12};
  }
  CHECK(saw_low);
  CHECK(saw_high);
  CHECK(random.between(Duration{5}, Duration{5}) == Duration{5});
  CHECK(random.between(Duration{9}, Duration{3}) == Duration{9});
}

TEST_CASE("domain backoff grows with consecutive failures and resets on success", "[delivery]") {
  const RetrySchedule schedule;
  RetryRandom random(99);
  DomainBackoff backoff;
  CHECK_FALSE(backoff.backing_off(kT0));
  CHECK(backoff.consecutive_failures() == 0);

  struct Step {
    std::uint32_t failures;
    Duration min;
    Duration max;
  };
  const std::vector<Step> steps = {{1, 30s, 1min}, {2, 1min, 2min}, {3, 2min, 4min}};
  TimePoint now = kT0;
  for (const Step& step : steps) {
    const TimePoint until = backoff.record_failure(now, schedule, random);
    CHECK(backoff.consecutive_failures() == step.failures);
    CHECK(until - now >= step.min);
    CHECK(until - now <= step.max);
    CHECK(backoff.until() == until);
    CHECK(backoff.backing_off(now));
    CHECK(backoff.backing_off(until - 1ms));
    CHECK_FALSE(backoff.backing_off(until));
    now = until;
  }

  backoff.record_success();
  CHECK(backoff.consecutive_failures() == 0);
  CHECK_FALSE(backoff.backing_off(now));
  const TimePoint until = backoff.record_failure(now, schedule, random);
  CHECK(until - now <= 1min);  // back to the base
}

TEST_CASE("messages expire at the maximum queue lifetime", "[delivery]") {
  const RetrySchedule schedule;
  struct Case {
    Duration age;
    bool expired;
  };
  const std::vector<Case> cases = {
      {0s, false},
      {std::chrono::hours(24 * 5) - 1ms, false},
      {std::chrono::hours(24 * 5), true},
      {std::chrono::hours(24 * 30), true},
      {-1h, false},  // a clock stepped back never expires a message early
  };
  for (const Case& c : cases) {
    INFO("age ms " << c.age.count());
    CHECK(schedule.expired(kT0, kT0 + c.age) == c.expired);
  }
  RetryPolicy short_life;
  short_life.max_lifetime = 1h;
  CHECK(RetrySchedule(short_life).expired(kT0, kT0 + 1h));
}

TEST_CASE("retry policies are validated, and bad ones still behave", "[delivery]") {
  CHECK(retry_policy_error(RetryPolicy{}).empty());
  RetryPolicy p;
  p.base = 0s;
  CHECK_FALSE(retry_policy_error(p).empty());
  p = {};
  p.cap = 1min;
  CHECK(retry_policy_error(p) == "retry cap must not be below the retry base");
  p = {};
  p.domain_base = -1s;
  CHECK_FALSE(retry_policy_error(p).empty());
  p = {};
  p.domain_cap = 1s;
  CHECK_FALSE(retry_policy_error(p).empty());
  p = {};
  p.max_lifetime = 0s;
  CHECK_FALSE(retry_policy_error(p).empty());

  RetryPolicy huge;  // doubling never overflows, even next to the largest duration
  huge.cap = Duration::max();
  const RetrySchedule unbounded(huge);
  CHECK(unbounded.recipient_range(4000000000U).max == Duration::max());
  CHECK(unbounded.recipient_range(2).max == 10min);

  RetryPolicy broken;
  broken.base = 0s;
  broken.cap = -5s;
  const RetrySchedule schedule(broken);
  CHECK(schedule.recipient_range(1) == DelayRange{1ms, 1ms});
  CHECK(schedule.recipient_range(50) == DelayRange{1ms, 1ms});
}
