#include "shaping/domain_shaper.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "fakes/fake_clock.h"

using namespace bulkq;
using namespace std::chrono_literals;
using bulkq::testing::FakeClock;

namespace {

// A destination that takes at most `per_second` messages in any one second and answers
// "451 4.7.1 rate limited" to the rest; in a storm it refuses every connection.
class SimulatedDestination {
 public:
  enum class Answer { accepted, rate_limited, refused };

  explicit SimulatedDestination(std::size_t per_second) : per_second_(per_second) {}

  Answer answer(TimePoint at) {
    if (storm_) return Answer::refused;
    while (!accepted_.empty() && accepted_.front() + 1s <= at)
      accepted_.pop_front();
    if (accepted_.size() >= per_second_) return Answer::rate_limited;
    accepted_.push_back(at);
    return Answer::accepted;
  }
  void set_storm(bool on) { storm_ = on; }

 private:
  std::size_t per_second_;
  bool storm_ = false;
  std::deque<TimePoint> accepted_;
};

// Drives a DomainShaper against a SimulatedDestination in 1 ms steps, the way the scheduler
// would: a message starts when fewer than concurrency() are in flight and may_start_message()
// says yes; its outcome comes back after the transaction's latency.
class Simulation {
 public:
  Simulation(std::size_t per_second, ShapingLimits limits, bool with_rules = false)
      : destination_(per_second), shaper_(limits, clock_.now()), start_(clock_.now()) {
    if (with_rules) rules_ = ResponseRules::make(default_response_rules()).rules;
  }

  void run_for(Duration span) {
    const TimePoint end = clock_.now() + span;
    while (clock_.now() < end) {
      step();
      clock_.advance(1ms);
    }
  }

  // Mean accepted messages per second over [from, to) seconds since the start.
  [[nodiscard]] double accepted_rate(int from, int to) const {
    double sum = 0;
    for (int s = from; s < to; ++s)
      sum += accepted_in_second(s);
    return sum / (to - from);
  }

  // The first second from which every 5-second mean up to `until` is within ±20% of `target`;
  // -1 when there is none.
  [[nodiscard]] int settled_at(double target, int until) const {
    int settled = -1;
    for (int s = until - 5; s >= 0; --s) {
      const double mean = accepted_rate(s, s + 5);
      if (mean < 0.8 * target || mean > 1.2 * target) break;
      settled = s;
    }
    return settled;
  }

  DomainShaper& shaper() { return shaper_; }
  SimulatedDestination& destination() { return destination_; }
  FakeClock& clock() { return clock_; }
  [[nodiscard]] bool limits_held() const { return limits_held_; }

 private:
  struct InFlight {
    TimePoint started;
    TimePoint done;
    SimulatedDestination::Answer answer;
  };

  [[nodiscard]] double accepted_in_second(int s) const {
    const auto index = static_cast<std::size_t>(s);
    return index < accepted_per_second_.size() ? accepted_per_second_[index] : 0.0;
  }

  void step() {
    const TimePoint now = clock_.now();
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (it->done > now) {
        ++it;
        continue;
      }
      finish(*it, now);
      it = in_flight_.erase(it);
    }
    while (in_flight_.size() < shaper_.concurrency() && shaper_.may_start_message(now)) {
      const auto answer = destination_.answer(now);
      const Duration takes = answer == SimulatedDestination::Answer::refused ? 5ms : 20ms;
      in_flight_.push_back({now, now + takes, answer});
    }
    const ShapingLimits& limits = shaper_.limits();
    const std::optional<double> rate = shaper_.rate();
    if (shaper_.concurrency() < 1 || shaper_.concurrency() > limits.max_connections) {
      limits_held_ = false;
    }
    if (rate && (*rate < limits.min_rate || !std::isfinite(*rate))) limits_held_ = false;
    if (limits.max_rate && (!rate || *rate > *limits.max_rate)) limits_held_ = false;
  }

  void finish(const InFlight& message, TimePoint now) {
    using Answer = SimulatedDestination::Answer;
    switch (message.answer) {
      case Answer::accepted: {
        shaper_.on_transaction(now, now - message.started, TransactionResult::accepted);
        const auto second = static_cast<std::size_t>((now - start_) / 1s);
        if (accepted_per_second_.size() <= second) accepted_per_second_.resize(second + 1, 0);
        ++accepted_per_second_[second];
        break;
      }
      case Answer::rate_limited: {
        shaper_.on_transaction(now, now - message.started, TransactionResult::temporary);
        if (rules_) {
          const SmtpStatus reply{451, 4, 7, 1, "rate limited"};
          if (const ResponseRule* rule = rules_->match(reply)) shaper_.on_response_rule(now, *rule);
        }
        break;
      }
      case Answer::refused:
        shaper_.on_connection_failure(now);
        break;
    }
  }

  FakeClock clock_;
  SimulatedDestination destination_;
  DomainShaper shaper_;
  TimePoint start_;
  std::optional<ResponseRules> rules_;
  std::vector<InFlight> in_flight_;
  std::vector<int> accepted_per_second_;
  bool limits_held_ = true;
};

// Feeds `count` transactions of one kind, `spacing` apart, each `latency` long.
void feed(DomainShaper& shaper, FakeClock& clock, int count, TransactionResult result,
          Duration spacing = 50ms, Duration latency = 20ms) {
  for (int i = 0; i < count; ++i) {
    clock.advance(spacing);
    shaper.on_transaction(clock.now(), latency, result);
  }
}

ShapingLimits limited(double max_rate, double initial_rate) {
  ShapingLimits limits;
  limits.max_rate = max_rate;
  limits.initial_rate = initial_rate;
  return limits;
}

ResponseRule suspend_rule(std::chrono::seconds how_long) {
  return ResponseRule{"too many connections", PatternSyntax::substring, ResponseAction::suspend,
                      how_long, 1.0};
}

ResponseRule scale_rule(double factor) {
  return ResponseRule{"rate limited", PatternSyntax::substring, ResponseAction::scale_rate, 0s,
                      factor};
}

}  // namespace

TEST_CASE("against a destination taking R messages/s the steady accepted rate is R ±20%",
          "[shaping]") {
  for (const std::size_t limit : {5U, 50U, 200U}) {
    Simulation sim(limit, ShapingLimits{});
    sim.run_for(180s);
    const double target = static_cast<double>(limit);
    const double steady = sim.accepted_rate(120, 180);
    const int settled = sim.settled_at(target, 180);
    INFO("R = " << limit << ": steady " << steady << "/s (" << steady / target
                << " R), settled after " << settled << " s, rate "
                << sim.shaper().rate().value_or(-1) << ", concurrency "
                << sim.shaper().concurrency());
    CHECK(steady >= 0.8 * target);
    CHECK(steady <= 1.2 * target);
    CHECK(settled >= 0);
    CHECK(settled <= 60);
    CHECK(sim.shaper().rate().has_value());  // it pushed back, so the rate is a number
    CHECK(sim.limits_held());
  }
}

TEST_CASE("the steady rate holds when the 'rate limited' replies also go through the rules",
          "[shaping]") {
  for (const std::size_t limit : {5U, 50U, 200U}) {
    Simulation sim(limit, ShapingLimits{}, true);
    sim.run_for(180s);
    const double target = static_cast<double>(limit);
    const double steady = sim.accepted_rate(120, 180);
    INFO("R = " << limit << ": steady " << steady << "/s (" << steady / target
                << " R), settled after " << sim.settled_at(target, 180) << " s");
    CHECK(steady >= 0.8 * target);
    CHECK(steady <= 1.2 * target);
    CHECK(sim.limits_held());
  }
}

TEST_CASE("a storm of connection failures backs off, and the shaper climbs back step by step",
          "[shaping]") {
  Simulation sim(50, ShapingLimits{});
  sim.run_for(120s);
  const std::uint32_t connections_before = sim.shaper().concurrency();
  const std::optional<double> rate_before = sim.shaper().rate();
  REQUIRE(rate_before.has_value());
  const std::uint64_t decreases_before = sim.shaper().snapshot(sim.clock().now()).decreases;

  sim.destination().set_storm(true);
  sim.run_for(30s);
  const ShapingSnapshot storm = sim.shaper().snapshot(sim.clock().now());
  CHECK(storm.state == ShapingState::backing_off);
  CHECK(storm.concurrency < connections_before);
  CHECK(storm.concurrency == 1);
  REQUIRE(storm.rate.has_value());
  CHECK(*storm.rate < *rate_before / 4);
  CHECK(*storm.rate >= ShapingLimits{}.min_rate);
  CHECK(storm.decreases > decreases_before);
  CHECK(sim.accepted_rate(121, 150) == 0);

  // After the storm: every change of rate is an increase of at most a doubling (or one
  // additive step, 5% of the rate it climbs back to), and there are several of them before the
  // rate is back.
  sim.destination().set_storm(false);
  std::vector<double> rates{*storm.rate};
  for (int ms = 0; ms < 120'000; ++ms) {
    sim.run_for(1ms);
    const std::optional<double> rate = sim.shaper().rate();
    if (rate && *rate != rates.back()) rates.push_back(*rate);
  }
  INFO("rates after the storm: " << rates.size() << " changes, back to " << rates.back());
  std::size_t steps_to_recover = 0;
  for (std::size_t i = 1; i < rates.size(); ++i) {
    if (rates[i - 1] < 0.8 * *rate_before) ++steps_to_recover;
    if (steps_to_recover == i) {  // still climbing
      const double step = 0.05 * 1.25 * *rate_before;
      CHECK(rates[i] > rates[i - 1]);
      CHECK(rates[i] <= rates[i - 1] + std::max(rates[i - 1], step));
    }
  }
  CHECK(steps_to_recover >= 4);
  CHECK(sim.shaper().concurrency() > 1);
  const double recovered = sim.accepted_rate(240, 270);
  INFO("accepted in the last 30 s: " << recovered << "/s");
  CHECK(recovered >= 0.8 * 50);
  CHECK(recovered <= 1.2 * 50);
}

TEST_CASE("static limits are never exceeded, however willing the destination", "[shaping]") {
  ShapingLimits limits = limited(20, 5);
  limits.max_connections = 3;
  Simulation sim(100'000, limits);
  sim.run_for(60s);
  CHECK(sim.limits_held());
  CHECK(sim.shaper().concurrency() == 3);
  CHECK(sim.shaper().rate() == std::optional<double>(20));
  CHECK(sim.shaper().state() == ShapingState::steady);
  CHECK(sim.accepted_rate(40, 60) <= 20.0 + 1);
  CHECK(sim.accepted_rate(40, 60) >= 19.0);
}

TEST_CASE("without a rate limit and without pushback the rate stays unlimited", "[shaping]") {
  Simulation sim(100'000, ShapingLimits{});
  sim.run_for(30s);
  CHECK_FALSE(sim.shaper().rate().has_value());
  CHECK(sim.shaper().concurrency() == ShapingLimits{}.max_connections);
  CHECK(sim.shaper().state() == ShapingState::steady);
  CHECK(sim.shaper().snapshot(sim.clock().now()).decreases == 0);
  // 8 connections at 20 ms each.
  CHECK(sim.accepted_rate(20, 30) == Approx(400).epsilon(0.05));
}

TEST_CASE("the rate goes back to unlimited after sustained recovery above the peak", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(ShapingLimits{}, clock.now());
  // 20 transactions a second, a third of them deferred: the first decrease sets the rate to
  // what the destination took.
  for (int i = 0; i < 20; ++i) {
    clock.advance(50ms);
    shaper.on_transaction(clock.now(), 20ms,
                          i % 3 == 0 ? TransactionResult::temporary : TransactionResult::accepted);
  }
  REQUIRE(shaper.rate().has_value());
  CHECK(*shaper.rate() == Approx(13.0).epsilon(0.05));
  CHECK(shaper.state() == ShapingState::backing_off);

  // Then the destination takes everything, as fast as the rate allows.
  const std::uint64_t increases_before = shaper.snapshot(clock.now()).increases;
  for (int i = 0; i < 2000 && shaper.rate(); ++i) {
    const double rate = *shaper.rate();
    clock.advance(Duration{static_cast<Duration::rep>(std::ceil(1000.0 / rate))});
    shaper.on_transaction(clock.now(), 20ms, TransactionResult::accepted);
  }
  const std::uint64_t windows = shaper.snapshot(clock.now()).increases - increases_before;
  INFO("clean windows " << windows);
  CHECK_FALSE(shaper.rate().has_value());
  CHECK(windows >= ShapingLimits{}.unlimited_after_windows);
  CHECK(windows <= 40);
}

TEST_CASE("a suspend rule stops all starts until T, then the destination resumes", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(50, 40), clock.now());
  feed(shaper, clock, 40, TransactionResult::accepted);  // a few clean windows
  const std::uint32_t connections = shaper.concurrency();
  const TimePoint t0 = clock.now();
  shaper.on_response_rule(t0, suspend_rule(60s));

  CHECK(shaper.state() == ShapingState::suspended);
  CHECK(shaper.concurrency() == std::max<std::uint32_t>(1, connections / 2));
  CHECK_FALSE(shaper.may_start_message(t0));
  CHECK(shaper.next_allowed(t0) == t0 + 60s);
  const ShapingSnapshot during = shaper.snapshot(t0 + 30s);
  CHECK(during.state == ShapingState::suspended);
  CHECK(during.suspended_until == std::optional<TimePoint>(t0 + 60s));
  CHECK_FALSE(shaper.may_start_message(t0 + 60s - 1ms));

  // A second, shorter suspension does not shorten the first, nor decrease a second time.
  shaper.on_response_rule(t0 + 1s, suspend_rule(10s));
  CHECK(shaper.next_allowed(t0 + 2s) == t0 + 60s);
  // Replies that come in while suspended (to messages sent before it) change nothing.
  for (int i = 0; i < 40; ++i) {
    shaper.on_transaction(t0 + 2s + i * 100ms, 3s + i * 100ms, TransactionResult::temporary);
  }
  CHECK(shaper.state() == ShapingState::suspended);
  CHECK(shaper.snapshot(t0 + 30s).decreases == 1);

  CHECK(shaper.snapshot(t0 + 60s).state == ShapingState::backing_off);
  CHECK_FALSE(shaper.snapshot(t0 + 60s).suspended_until.has_value());
  CHECK(shaper.may_start_message(t0 + 60s));
  CHECK(shaper.state() == ShapingState::backing_off);
}

TEST_CASE("a scale_rate rule multiplies the rate, once per round trip", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(40, 20), clock.now());
  shaper.on_response_rule(clock.now(), scale_rule(0.5));
  CHECK(shaper.rate() == std::optional<double>(10));
  CHECK(shaper.state() == ShapingState::backing_off);
  const std::uint32_t connections = shaper.concurrency();

  // More of the same replies, answering messages sent before the cut: no second cut.
  clock.advance(100ms);
  shaper.on_response_rule(clock.now(), scale_rule(0.5));
  CHECK(shaper.rate() == std::optional<double>(10));
  CHECK(shaper.concurrency() == connections);  // scale_rate is about rate only

  // Once the window after the cut has been judged, a rule acts again.
  feed(shaper, clock, 20, TransactionResult::accepted, 100ms);
  REQUIRE(shaper.state() == ShapingState::probing);
  const double after_window = shaper.rate().value_or(0);
  shaper.on_response_rule(clock.now(), scale_rule(0.5));
  // Half of what was really offered (10/s, below the new limit), not of the new limit.
  CHECK(after_window > 10);
  CHECK(shaper.rate().value_or(0) == Approx(5.0));
  CHECK(shaper.snapshot(clock.now()).decreases == 2);
}

TEST_CASE("a bounce rule changes nothing in the shaper", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(40, 20), clock.now());
  shaper.on_response_rule(
      clock.now(), ResponseRule{"x", PatternSyntax::substring, ResponseAction::bounce, 0s, 1.0});
  CHECK(shaper.rate() == std::optional<double>(20));
  CHECK(shaper.state() == ShapingState::probing);
  CHECK(shaper.snapshot(clock.now()).decreases == 0);
}

TEST_CASE("the 4xx share must pass the threshold to decrease", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 20), clock.now());
  SECTION("1 in 20 (5%) is not above it: the window increases") {
    feed(shaper, clock, 19, TransactionResult::accepted);
    feed(shaper, clock, 1, TransactionResult::temporary);
    CHECK(shaper.state() == ShapingState::probing);
    CHECK(shaper.rate().value_or(0) > 20);
    CHECK(shaper.concurrency() == 3);
  }
  SECTION("2 in 20 (10%) is: rate and concurrency go down") {
    feed(shaper, clock, 18, TransactionResult::accepted);
    feed(shaper, clock, 2, TransactionResult::temporary);
    CHECK(shaper.state() == ShapingState::backing_off);
    CHECK(shaper.rate().value_or(100) < 20);
    CHECK(shaper.rate().value_or(0) >= 10);  // not below what the destination took
    CHECK(shaper.snapshot(clock.now()).decreases == 1);
  }
}

TEST_CASE("5xx replies say nothing about speed", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 20), clock.now());
  feed(shaper, clock, 20, TransactionResult::permanent);
  CHECK(shaper.state() == ShapingState::probing);
  CHECK(shaper.rate().value_or(0) > 20);
  CHECK(shaper.snapshot(clock.now()).decreases == 0);
}

TEST_CASE("outcomes of messages sent before a decrease are not held against it", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 20), clock.now());
  feed(shaper, clock, 20, TransactionResult::temporary);
  REQUIRE(shaper.snapshot(clock.now()).decreases == 1);
  // Replies to messages that left before the cut keep coming in.
  feed(shaper, clock, 40, TransactionResult::temporary, 10ms, 5s);
  CHECK(shaper.snapshot(clock.now()).decreases == 1);
  CHECK(shaper.snapshot(clock.now()).window_transactions == 0);
  // A fresh one counts.
  feed(shaper, clock, 1, TransactionResult::temporary, 10ms, 5ms);
  CHECK(shaper.snapshot(clock.now()).window_transactions == 1);
}

TEST_CASE("connection failures decrease rate and concurrency at once", "[shaping]") {
  FakeClock clock;
  ShapingLimits limits = limited(100, 40);
  limits.initial_connections = 8;
  DomainShaper shaper(limits, clock.now());
  shaper.on_connection_failure(clock.now());
  CHECK(shaper.state() == ShapingState::probing);  // one is not a storm
  clock.advance(10ms);
  shaper.on_connection_failure(clock.now());
  CHECK(shaper.state() == ShapingState::backing_off);
  CHECK(shaper.concurrency() == 4);
  CHECK(shaper.rate() == std::optional<double>(20));
  for (int i = 0; i < 100; ++i) {
    clock.advance(500ms);
    shaper.on_connection_failure(clock.now());
  }
  CHECK(shaper.concurrency() == 1);
  CHECK(shaper.rate() == std::optional<double>(limits.min_rate));
  CHECK(shaper.next_allowed(clock.now()) <= clock.now() + 10s);  // the floor is 0.1/s
}

TEST_CASE("a burst of failures within one round trip costs one decrease", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 40), clock.now());
  for (int i = 0; i < 10; ++i) {
    clock.advance(20ms);
    shaper.on_connection_failure(clock.now());
  }
  CHECK(shaper.snapshot(clock.now()).decreases == 1);
  CHECK(shaper.rate() == std::optional<double>(20));
  // Still failing a second after the decrease: that is news about the new speed.
  clock.advance(1s);
  shaper.on_connection_failure(clock.now());
  CHECK(shaper.snapshot(clock.now()).decreases == 2);
  CHECK(shaper.rate() == std::optional<double>(10));
}

TEST_CASE("a latency rise holds the shaper where it is", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 20), clock.now());
  feed(shaper, clock, 20, TransactionResult::accepted, 50ms, 20ms);
  REQUIRE(shaper.state() == ShapingState::probing);
  const std::optional<double> rate = shaper.rate();
  const std::uint32_t connections = shaper.concurrency();
  feed(shaper, clock, 20, TransactionResult::accepted, 50ms, 100ms);
  CHECK(shaper.state() == ShapingState::steady);
  CHECK(shaper.rate() == rate);
  CHECK(shaper.concurrency() == connections);
  CHECK(shaper.snapshot(clock.now()).mean_latency == 100ms);
}

TEST_CASE("the snapshot shows the current window", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(limited(100, 20), clock.now());
  feed(shaper, clock, 3, TransactionResult::accepted, 10ms, 30ms);
  feed(shaper, clock, 1, TransactionResult::temporary, 10ms, 70ms);
  const ShapingSnapshot snapshot = shaper.snapshot(clock.now());
  CHECK(snapshot.state == ShapingState::probing);
  CHECK(snapshot.concurrency == 2);
  CHECK(snapshot.rate == std::optional<double>(20));
  CHECK(snapshot.deferred_share == Approx(0.25));
  CHECK(snapshot.window_transactions == 4);
  CHECK(snapshot.mean_latency == 40ms);
  CHECK_FALSE(snapshot.suspended_until.has_value());
  CHECK(snapshot.decreases == 0);
  CHECK(snapshot.increases == 0);
}

TEST_CASE("outcomes all in one millisecond divide by nothing", "[shaping]") {
  FakeClock clock;
  DomainShaper shaper(ShapingLimits{}, clock.now());
  ShapingLimits limits;
  limits.min_window_time = 0ms;
  DomainShaper instant(limits, clock.now());
  for (int i = 0; i < 40; ++i) {
    shaper.on_transaction(clock.now(), 0ms, TransactionResult::temporary);
    instant.on_transaction(clock.now(), 0ms, TransactionResult::temporary);
  }
  for (const DomainShaper* s : {&shaper, &instant}) {
    if (s->rate()) CHECK(std::isfinite(*s->rate()));
    CHECK(s->concurrency() >= 1);
  }
  CHECK(instant.rate().has_value());
}

TEST_CASE("shaping limits are checked, and bad ones are used safely", "[shaping]") {
  CHECK(shaping_limits_error(ShapingLimits{}).empty());
  ShapingLimits bad;
  bad.max_connections = 0;
  CHECK(shaping_limits_error(bad) == "max connections must be at least 1");
  bad = {};
  bad.max_rate = 0;
  CHECK(shaping_limits_error(bad) == "max rate must be positive (leave it out for no limit)");
  bad = {};
  bad.decrease_factor = 1;
  CHECK(shaping_limits_error(bad) == "decrease factor must be above 0 and below 1");
  bad = {};
  bad.initial_connections = 9;
  CHECK(shaping_limits_error(bad) == "initial connections must be from 1 to max connections");
  bad = {};
  bad.max_rate = 0.05;
  CHECK(shaping_limits_error(bad) == "min rate must not be above max rate");

  ShapingLimits broken;
  broken.max_connections = 0;
  broken.initial_connections = 0;
  broken.max_rate = -3;
  broken.decrease_factor = std::nan("");
  FakeClock clock;
  DomainShaper shaper(broken, clock.now());
  CHECK(shaper.concurrency() == 1);
  REQUIRE(shaper.rate().has_value());
  CHECK(*shaper.rate() == shaper.limits().min_rate);
  CHECK(shaper.limits().decrease_factor == 0.5);
}

TEST_CASE("shaping states have names", "[shaping]") {
  CHECK(to_string(ShapingState::probing) == "probing");
  CHECK(to_string(ShapingState::steady) == "steady");
  CHECK(to_string(ShapingState::backing_off) == "backing_off");
  CHECK(to_string(ShapingState::suspended) == "suspended");
  CHECK(to_string(TransactionResult::permanent) == "permanent");
}
