#include "shaping/domain_shaper.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace bulkq {
namespace {

using namespace std::chrono_literals;

// A window that sent at least this share of the rate was held back by the rate (not by an empty
// queue or too few connections): only then does it say anything about raising the rate.
constexpr double kRateBoundShare = 0.75;

// Longest latency taken at face value; more is a caller bug or a stepped clock, and keeps
// now - latency far from overflowing.
constexpr Duration kMaxLatency = std::chrono::hours(24);

// Longest window; also keeps the per-window counters far from overflowing.
constexpr Duration kMaxWindowTime = std::chrono::hours(1);

bool positive_finite(double x) {
  return x > 0 && std::isfinite(x);
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

ShapingLimits sanitized(ShapingLimits limits) {
  const ShapingLimits defaults;
  limits.max_connections = std::max<std::uint32_t>(limits.max_connections, 1);
  if (!positive_finite(limits.min_rate)) limits.min_rate = defaults.min_rate;
  if (limits.max_rate) {
    if (std::isinf(*limits.max_rate) && *limits.max_rate > 0) {
      limits.max_rate.reset();
    } else if (!(*limits.max_rate > 0)) {
      limits.max_rate = limits.min_rate;
    }
  }
  if (limits.max_rate) limits.min_rate = std::min(limits.min_rate, *limits.max_rate);
  limits.initial_connections =
      std::clamp<std::uint32_t>(limits.initial_connections, 1, limits.max_connections);
  if (!positive_finite(limits.initial_rate)) limits.initial_rate = defaults.initial_rate;
  limits.initial_rate = std::max(limits.initial_rate, limits.min_rate);
  if (limits.max_rate) limits.initial_rate = std::min(limits.initial_rate, *limits.max_rate);
  limits.window_transactions = std::max<std::uint32_t>(limits.window_transactions, 1);
  limits.window_time = std::clamp(limits.window_time, Duration{1}, kMaxWindowTime);
  limits.min_window_time = std::clamp(limits.min_window_time, Duration{0}, limits.window_time);
  if (!(limits.increase_step > 0 && limits.increase_step <= 1)) {
    limits.increase_step = defaults.increase_step;
  }
  if (!(limits.decrease_factor > 0 && limits.decrease_factor < 1)) {
    limits.decrease_factor = defaults.decrease_factor;
  }
  if (!(limits.deferred_share_threshold >= 0 && limits.deferred_share_threshold < 1)) {
    limits.deferred_share_threshold = defaults.deferred_share_threshold;
  }
  limits.connection_failure_threshold =
      std::max<std::uint32_t>(limits.connection_failure_threshold, 1);
  if (!(limits.latency_rise > 1)) limits.latency_rise = defaults.latency_rise;
  limits.unlimited_after_windows = std::max<std::uint32_t>(limits.unlimited_after_windows, 1);
  limits.burst = std::max(limits.burst, Duration{0});
  return limits;
}

}  // namespace

std::string shaping_limits_error(const ShapingLimits& limits) {
  if (limits.max_connections < 1) return "max connections must be at least 1";
  if (limits.max_rate && !(*limits.max_rate > 0)) {
    return "max rate must be positive (leave it out for no limit)";
  }
  if (!positive_finite(limits.min_rate)) return "min rate must be positive";
  if (limits.max_rate && limits.min_rate > *limits.max_rate) {
    return "min rate must not be above max rate";
  }
  if (limits.initial_connections < 1 || limits.initial_connections > limits.max_connections) {
    return "initial connections must be from 1 to max connections";
  }
  if (!positive_finite(limits.initial_rate)) return "initial rate must be positive";
  if (limits.window_transactions < 1) return "window transactions must be at least 1";
  if (limits.window_time < Duration{1} || limits.window_time > kMaxWindowTime) {
    return "window time must be from 1 ms to 1 h";
  }
  if (limits.min_window_time < Duration{0} || limits.min_window_time > limits.window_time) {
    return "min window time must be from 0 to the window time";
  }
  if (!(limits.increase_step > 0 && limits.increase_step <= 1)) {
    return "increase step must be above 0 and at most 1";
  }
  if (!(limits.decrease_factor > 0 && limits.decrease_factor < 1)) {
    return "decrease factor must be above 0 and below 1";
  }
  if (!(limits.deferred_share_threshold >= 0 && limits.deferred_share_threshold < 1)) {
    return "4xx share threshold must be from 0 to below 1";
  }
  if (limits.connection_failure_threshold < 1) {
    return "connection failure threshold must be at least 1";
  }
  if (!(limits.latency_rise > 1)) return "latency rise must be above 1";
  if (limits.unlimited_after_windows < 1) return "unlimited after windows must be at least 1";
  if (limits.burst < Duration{0}) return "burst must not be negative";
  return {};
}

std::string_view to_string(ShapingState state) {
  switch (state) {
    case ShapingState::probing:
      return "probing";
    case ShapingState::steady:
      return "steady";
    case ShapingState::backing_off:
      return "backing_off";
    case ShapingState::suspended:
      return "suspended";
  }
  return "unknown";
}

std::string_view to_string(TransactionResult result) {
  switch (result) {
    case TransactionResult::accepted:
      return "accepted";
    case TransactionResult::temporary:
      return "temporary";
    case TransactionResult::permanent:
      return "permanent";
  }
  return "unknown";
}

namespace {

double burst_tokens(const ShapingLimits& limits, std::optional<double> rate) {
  if (!rate) return 1.0;
  return std::max(1.0, *rate * seconds(limits.burst));
}

}  // namespace

DomainShaper::DomainShaper(ShapingLimits limits, TimePoint now)
    : limits_(sanitized(std::move(limits))),
      concurrency_(limits_.initial_connections),
      rate_(limits_.max_rate ? std::optional<double>(limits_.initial_rate) : std::nullopt),
      bucket_(rate_, burst_tokens(limits_, rate_), now) {
  window_.start = now;
  const bool rate_at_limit = !rate_ || (limits_.max_rate && *rate_ >= *limits_.max_rate);
  if (concurrency_ == limits_.max_connections && rate_at_limit) state_ = ShapingState::steady;
}

void DomainShaper::on_transaction(TimePoint now, Duration latency, TransactionResult result) {
  resume_if_due(now);
  latency = std::clamp(latency, Duration{0}, kMaxLatency);
  // Sent before the last decrease: it answers the old speed, not the current one.
  if (now - latency < last_decrease_) {
    close_window_if_due(now);
    return;
  }
  switch (result) {
    case TransactionResult::accepted:
      ++window_.accepted;
      window_.latency_ms += latency.count();
      break;
    case TransactionResult::temporary:
      ++window_.temporary;
      window_.latency_ms += latency.count();
      break;
    case TransactionResult::permanent:
      ++window_.permanent;
      break;
  }
  close_window_if_due(now);
}

void DomainShaper::on_connection_failure(TimePoint now) {
  resume_if_due(now);
  ++window_.connection_failures;
  close_window_if_due(now);
}

void DomainShaper::on_response_rule(TimePoint now, const ResponseRule& rule) {
  resume_if_due(now);
  switch (rule.action) {
    case ResponseAction::bounce:
      return;
    case ResponseAction::scale_rate: {
      if (!(rule.rate_factor < 1.0)) return;  // no slowdown asked (or NaN): nothing to do
      if (!window_.follows_decrease) {
        decrease(now, Cause::rule_scale, std::max(rule.rate_factor, 0.0));
      }
      return;
    }
    case ResponseAction::suspend: {
      // Clamped in seconds, before the conversion to milliseconds could overflow.
      const Duration pause = std::clamp(rule.suspend, std::chrono::seconds{0}, kMaxResponseSuspend);
      if (pause <= Duration{0}) return;
      // Coming back at full speed after being told to go away would only earn the next
      // suspension, so a suspension is also a decrease (unless one was just made).
      if (!window_.follows_decrease) {
        decrease(now, Cause::rule_suspend, limits_.decrease_factor);
      }
      suspended_until_ = std::max(suspended_until_, now + pause);
      enter_state(ShapingState::suspended);
      return;
    }
  }
}

bool DomainShaper::may_start_message(TimePoint now) {
  resume_if_due(now);
  if (state_ == ShapingState::suspended) return false;
  return bucket_.try_take(now);
}

TimePoint DomainShaper::next_allowed(TimePoint now) const {
  if (now < suspended_until_) return bucket_.next_available(suspended_until_);
  return bucket_.next_available(now);
}

ShapingSnapshot DomainShaper::snapshot(TimePoint now) const {
  ShapingSnapshot snapshot;
  snapshot.state = state_;
  if (state_ == ShapingState::suspended && now >= suspended_until_) {
    snapshot.state = ShapingState::backing_off;  // what resume_if_due() will make of it
  }
  snapshot.concurrency = concurrency_;
  snapshot.rate = rate_;
  const std::uint32_t judged = window_.judged();
  snapshot.deferred_share = judged == 0 ? 0.0 : static_cast<double>(window_.temporary) / judged;
  snapshot.window_transactions = window_.transactions();
  snapshot.mean_latency = judged == 0 ? last_mean_latency_ : window_mean_latency();
  if (now < suspended_until_) snapshot.suspended_until = suspended_until_;
  snapshot.decreases = decreases_;
  snapshot.increases = increases_;
  return snapshot;
}

void DomainShaper::resume_if_due(TimePoint now) {
  if (state_ != ShapingState::suspended || now < suspended_until_) return;
  enter_state(ShapingState::backing_off);
  // Nothing was sent while suspended; a window spanning the pause would measure the pause.
  restart_window(now, true);
}

void DomainShaper::close_window_if_due(TimePoint now) {
  // Nothing starts while suspended, so there is nothing to judge; resuming opens a new window.
  if (state_ == ShapingState::suspended) return;
  const Duration elapsed = now - window_.start;
  // Failures close a window at once, except the one after a decrease: attempts made just
  // before the decrease are still failing, and a short outage must not cost several halvings.
  const bool failures = window_.connection_failures >= limits_.connection_failure_threshold &&
                        (!window_.follows_decrease || elapsed >= limits_.min_window_time);
  const bool full =
      window_.transactions() >= limits_.window_transactions && elapsed >= limits_.min_window_time;
  // The window after a decrease only has to show that the decrease was enough; while it stays
  // clean a quarter of a window shows that, and the climb back starts sooner. One 4xx and it
  // runs its full length, since a small sample must not cut again.
  const bool clean_check =
      window_.follows_decrease && window_.temporary == 0 && window_.connection_failures == 0 &&
      window_.transactions() >= min_evidence() && elapsed >= limits_.min_window_time;
  if (failures || full || clean_check || elapsed >= limits_.window_time) decide(now);
}

void DomainShaper::decide(TimePoint now) {
  const std::uint32_t transactions = window_.transactions();
  const bool measured = window_measures(now);
  const double offered = transactions / window_seconds(now);
  const double taken = (window_.accepted + window_.permanent) / window_seconds(now);
  const double peak_before = peak_taken_rate_;
  if (measured) {
    last_offered_rate_ = offered;
    last_taken_rate_ = taken;
    peak_taken_rate_ = std::max(peak_taken_rate_, taken);
  }
  const bool failures = window_.connection_failures >= limits_.connection_failure_threshold;
  const bool rate_bound = rate_ && measured && offered >= kRateBoundShare * *rate_;
  const bool evidence = failures || (measured && (transactions >= min_evidence() || rate_bound));
  if (!evidence) {
    restart_window(now, false);
    return;
  }

  const std::uint32_t judged = window_.judged();
  const double share = judged == 0 ? 0.0 : static_cast<double>(window_.temporary) / judged;
  bool latency_rose = false;
  if (judged > 0) {
    const Duration mean = window_mean_latency();
    const auto mean_ms = static_cast<double>(mean.count());
    latency_rose =
        baseline_latency_ms_ > 0 && mean_ms > baseline_latency_ms_ * limits_.latency_rise;
    // The baseline follows the lowest latency seen, and drifts up slowly (1/8 of the gap per
    // window) so a path that became slower for good stops looking like a rise.
    baseline_latency_ms_ =
        baseline_latency_ms_ == 0
            ? mean_ms
            : std::min(mean_ms, baseline_latency_ms_ + (mean_ms - baseline_latency_ms_) / 8);
    last_mean_latency_ = mean;
  }

  if (failures) {
    decrease(now, Cause::connection_failures, limits_.decrease_factor);
  } else if (share > limits_.deferred_share_threshold) {
    decrease(now, Cause::deferrals, limits_.decrease_factor);
  } else if (latency_rose) {
    enter_state(ShapingState::steady);
    restart_window(now, false);
  } else {
    increase(now, rate_bound, window_.temporary == 0, peak_before);
  }
}

void DomainShaper::decrease(TimePoint now, Cause cause, double factor) {
  const double offered = offered_rate(now);
  const double taken = taken_rate(now);
  // The rate being cut is the one actually offered: cutting a limit that was not reached
  // would take several windows to bite.
  double base = 0;
  if (rate_) {
    base = offered > 0 ? std::min(*rate_, offered) : *rate_;
  } else {
    base = offered > 0 ? offered : limits_.initial_rate;
  }
  double next = base * factor;
  if (cause == Cause::deferrals) {
    if (!rate_ && taken > 0) {
      next = taken;  // the first pushback: what the destination took is the best first guess
    } else {
      next = std::max(next, std::min(base, taken));
    }
  }
  next = std::max(next, rate_floor());
  if (rate_) next = std::min(next, std::max(*rate_, rate_floor()));
  if (limits_.max_rate) next = std::min(next, *limits_.max_rate);

  // A series of decreases keeps the rate at which it began as the one to climb back to.
  if (state_ != ShapingState::backing_off && state_ != ShapingState::suspended) {
    pushback_rate_ = base;
  }

  const std::uint32_t before = concurrency_;
  std::uint32_t connections = before;
  if (cause != Cause::rule_scale) {
    connections = static_cast<std::uint32_t>(std::floor(before * factor));
  }
  if (cause == Cause::deferrals) {
    // Little's law: a rate of r messages/s at latency L keeps r * L transactions in flight.
    const double needed = std::ceil(next * seconds(last_mean_latency_)) + 1;
    const double cap = static_cast<double>(before);
    connections = std::max(connections, static_cast<std::uint32_t>(std::min(needed, cap)));
  }
  concurrency_ = std::clamp<std::uint32_t>(connections, 1, before);

  rate_ = next;
  apply_rate(now);
  last_decrease_ = now;
  clean_windows_above_peak_ = 0;
  ++decreases_;
  restart_window(now, true);
  if (state_ != ShapingState::suspended) enter_state(ShapingState::backing_off);
}

void DomainShaper::increase(TimePoint now, bool rate_bound, bool no_deferrals, double peak_before) {
  bool changed = false;
  if (concurrency_ < limits_.max_connections) {
    ++concurrency_;
    changed = true;
  }
  if (rate_ && rate_bound) {
    const double current = *rate_;
    double basis = current;
    if (pushback_rate_ > 0) {
      basis = pushback_rate_;
    } else if (limits_.max_rate) {
      basis = *limits_.max_rate;
    }
    const double step = std::max(rate_floor(), limits_.increase_step * basis);
    double raise = current < pushback_rate_ ? std::max(step, (pushback_rate_ - current) / 2) : step;
    // One window at r says little about 3r: beyond the additive step, at most a doubling.
    raise = std::min(raise, std::max(current, step));
    double next = current + raise;
    if (limits_.max_rate) next = std::min(next, *limits_.max_rate);
    if (next > current) {
      rate_ = next;
      changed = true;
    }
    if (!limits_.max_rate) {
      const bool recovered = no_deferrals && current > peak_before;
      clean_windows_above_peak_ = recovered ? clean_windows_above_peak_ + 1 : 0;
      if (clean_windows_above_peak_ >= limits_.unlimited_after_windows) {
        rate_.reset();
        clean_windows_above_peak_ = 0;
        changed = true;
      }
    }
  }
  if (changed) {
    ++increases_;
    apply_rate(now);
    enter_state(ShapingState::probing);
  } else {
    enter_state(ShapingState::steady);
  }
  restart_window(now, false);
}

void DomainShaper::restart_window(TimePoint now, bool follows_decrease) {
  window_ = Window{};
  window_.start = now;
  window_.follows_decrease = follows_decrease;
}

void DomainShaper::apply_rate(TimePoint now) {
  bucket_.set_rate(rate_, now);
  bucket_.set_burst(burst_tokens(limits_, rate_), now);
}

void DomainShaper::enter_state(ShapingState next) {
  // The single place a state changes. The core does no I/O, so the caller logs "old -> new"
  // by comparing state() before and after an input.
  state_ = next;
}

double DomainShaper::rate_floor() const {
  return limits_.min_rate;
}

std::uint32_t DomainShaper::min_evidence() const {
  return std::max<std::uint32_t>(1, limits_.window_transactions / 4);
}

double DomainShaper::window_seconds(TimePoint now) const {
  return seconds(std::max(now - window_.start, Duration{1}));
}

bool DomainShaper::window_measures(TimePoint now) const {
  const std::uint32_t transactions = window_.transactions();
  if (transactions == 0) return false;
  const Duration elapsed = now - window_.start;
  if (elapsed >= limits_.window_time) return true;  // a full window: what it saw is the rate
  return transactions >= min_evidence() && elapsed >= limits_.min_window_time;
}

double DomainShaper::offered_rate(TimePoint now) const {
  if (!window_measures(now)) return last_offered_rate_;
  return window_.transactions() / window_seconds(now);
}

double DomainShaper::taken_rate(TimePoint now) const {
  if (!window_measures(now)) return last_taken_rate_;
  return (window_.accepted + window_.permanent) / window_seconds(now);
}

Duration DomainShaper::window_mean_latency() const {
  const std::uint32_t judged = window_.judged();
  if (judged == 0) return Duration{0};
  return Duration{window_.latency_ms / judged};
}

}  // namespace bulkq
