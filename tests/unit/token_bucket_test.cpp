#include "shaping/token_bucket.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

int take_all(TokenBucket& bucket, TimePoint now) {
  int taken = 0;
  while (taken < 1'000'000 && bucket.try_take(now))
    ++taken;
  return taken;
}

}  // namespace

TEST_CASE("a token bucket starts full and hands out its burst at once", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(10.0, 3.0, clock.now());
  CHECK(bucket.tokens(clock.now()) == Approx(3.0));
  CHECK(take_all(bucket, clock.now()) == 3);
  CHECK_FALSE(bucket.try_take(clock.now()));
  CHECK(bucket.rate() == std::optional<double>(10.0));
}

TEST_CASE("tokens accrue at the rate, and next_available says when", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(10.0, 1.0, clock.now());
  REQUIRE(bucket.try_take(clock.now()));
  CHECK(bucket.next_available(clock.now()) == clock.now() + 100ms);
  clock.advance(99ms);
  CHECK_FALSE(bucket.try_take(clock.now()));
  CHECK(bucket.next_available(clock.now()) == clock.now() + 1ms);
  clock.advance(1ms);
  CHECK(bucket.next_available(clock.now()) == clock.now());
  CHECK(bucket.try_take(clock.now()));
}

TEST_CASE("next_available rounds up to the millisecond it is really there", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(3.0, 1.0, clock.now());  // one token per 333.3 ms
  REQUIRE(bucket.try_take(clock.now()));
  const TimePoint when = bucket.next_available(clock.now());
  CHECK(when == clock.now() + 334ms);
  clock.set(when - 1ms);
  CHECK_FALSE(bucket.try_take(clock.now()));
  clock.set(when);
  CHECK(bucket.try_take(clock.now()));
}

TEST_CASE("accrual stops at the burst however long the bucket idles", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(50.0, 5.0, clock.now());
  CHECK(take_all(bucket, clock.now()) == 5);
  clock.advance(24h);
  CHECK(bucket.tokens(clock.now()) == Approx(5.0));
  CHECK(take_all(bucket, clock.now()) == 5);
}

TEST_CASE("over a long run the bucket paces to its rate plus one burst", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(7.3, 2.0, clock.now());
  int started = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    if (bucket.try_take(clock.now())) ++started;
    clock.advance(1ms);
  }
  CHECK(started >= 73);
  CHECK(started <= 73 + 2);
}

TEST_CASE("a burst below one token is raised to one", "[shaping]") {
  FakeClock clock;
  for (const double burst : {0.0, 0.5, -3.0, std::nan("")}) {
    INFO("burst " << burst);
    TokenBucket bucket(1.0, burst, clock.now());
    CHECK(bucket.burst() == 1.0);
    CHECK(bucket.try_take(clock.now()));
  }
}

TEST_CASE("an unlimited bucket always says yes and spends nothing", "[shaping]") {
  FakeClock clock;
  for (const std::optional<double> rate :
       {std::optional<double>{}, std::optional<double>(std::numeric_limits<double>::infinity())}) {
    TokenBucket bucket(rate, 1.0, clock.now());
    CHECK_FALSE(bucket.rate().has_value());
    CHECK(take_all(bucket, clock.now()) == 1'000'000);
    CHECK(bucket.next_available(clock.now()) == clock.now());
  }
}

TEST_CASE("a stopped bucket spends what it holds, then never refills", "[shaping]") {
  FakeClock clock;
  for (const double rate : {0.0, -1.0, std::nan("")}) {
    INFO("rate " << rate);
    TokenBucket bucket(rate, 2.0, clock.now());
    CHECK(bucket.rate() == std::optional<double>(0.0));
    CHECK(take_all(bucket, clock.now()) == 2);
    clock.advance(1h);
    CHECK_FALSE(bucket.try_take(clock.now()));
    CHECK(bucket.next_available(clock.now()) == TimePoint::max());
  }
}

TEST_CASE("a rate change keeps the tokens earned at the old rate", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(1.0, 1.0, clock.now());
  REQUIRE(bucket.try_take(clock.now()));
  clock.advance(500ms);  // half a token at 1/s
  bucket.set_rate(10.0, clock.now());
  CHECK(bucket.tokens(clock.now()) == Approx(0.5));
  CHECK(bucket.next_available(clock.now()) == clock.now() + 50ms);

  SECTION("slowing down does not confiscate them either") {
    bucket.set_rate(0.5, clock.now());
    CHECK(bucket.tokens(clock.now()) == Approx(0.5));
    CHECK(bucket.next_available(clock.now()) == clock.now() + 1s);
  }
}

TEST_CASE("switching between unlimited and a rate", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(std::nullopt, 4.0, clock.now());
  bucket.set_rate(2.0, clock.now());
  CHECK(bucket.tokens(clock.now()) == Approx(4.0));  // an unlimited bucket was a full one
  CHECK(take_all(bucket, clock.now()) == 4);
  bucket.set_rate(std::nullopt, clock.now());
  CHECK(bucket.try_take(clock.now()));
  CHECK_FALSE(bucket.rate().has_value());
}

TEST_CASE("a smaller burst drops the tokens above it", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(1.0, 10.0, clock.now());
  bucket.set_burst(2.0, clock.now());
  CHECK(bucket.tokens(clock.now()) == Approx(2.0));
  bucket.set_burst(5.0, clock.now());
  CHECK(bucket.tokens(clock.now()) == Approx(2.0));  // room to grow, nothing handed out
}

TEST_CASE("a clock that steps back mints no tokens and loses none", "[shaping]") {
  FakeClock clock;
  TokenBucket bucket(10.0, 1.0, clock.now());
  clock.advance(1s);
  REQUIRE(bucket.try_take(clock.now()));
  const TimePoint last_seen = clock.now();
  clock.advance(-10s);
  CHECK_FALSE(bucket.try_take(clock.now()));
  CHECK(bucket.tokens(clock.now()) == Approx(0.0));
  CHECK(bucket.next_available(clock.now()) == last_seen + 100ms);
  clock.advance(10s + 50ms);  // back past the last time seen: half a token since then
  CHECK(bucket.tokens(clock.now()) == Approx(0.5));
}
