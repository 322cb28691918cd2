#include "shaping/token_bucket.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace bulkq {
namespace {

// Accrual in floating point lands a hair short of a whole token at the very millisecond
// next_available() promised; this tolerance keeps that promise.
constexpr double kWholeToken = 1.0 - 1e-9;

// Waits longer than this are "never" (TimePoint::max()): it also keeps now + wait from
// overflowing the 64-bit millisecond count.
constexpr double kLongestWaitMs = 1e3 * 60 * 60 * 24 * 365.25 * 100;  // a century

double sane_burst(double burst) {
  return burst >= 1.0 ? burst : 1.0;  // also catches NaN
}

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

TokenBucket::TokenBucket(std::optional<double> rate, double burst, TimePoint now)
    : burst_(sane_burst(burst)), tokens_(burst_), last_(now) {
  set_rate(rate, now);
}

void TokenBucket::accrue(TimePoint now) {
  if (now <= last_) return;  // no time passed, or the clock stepped back
  if (!unlimited_) tokens_ = std::min(burst_, tokens_ + rate_ * seconds_between(last_, now));
  last_ = now;
}

bool TokenBucket::try_take(TimePoint now) {
  if (unlimited_) return true;
  accrue(now);
  if (tokens_ < kWholeToken) return false;
  tokens_ = std::max(0.0, tokens_ - 1.0);
  return true;
}

double TokenBucket::tokens(TimePoint now) const {
  if (unlimited_) return burst_;
  if (now <= last_) return tokens_;
  return std::min(burst_, tokens_ + rate_ * seconds_between(last_, now));
}

TimePoint TokenBucket::next_available(TimePoint now) const {
  if (unlimited_) return now;
  // After a clock step back, accrual resumes only where it stopped.
  const TimePoint from = std::max(now, last_);
  const double held = tokens(from);
  if (held >= kWholeToken) return now;
  if (rate_ <= 0) return TimePoint::max();
  const double wait_ms = std::ceil((1.0 - held) / rate_ * 1e3);
  if (!(wait_ms < kLongestWaitMs)) return TimePoint::max();
  // Rounding may put the exact moment a millisecond either side of the computed one; ask the
  // same accrual that try_take() will use.
  TimePoint when = from + Duration{std::max<Duration::rep>(1, static_cast<Duration::rep>(wait_ms))};
  if (when - Duration{1} > from && tokens(when - Duration{1}) >= kWholeToken) when -= Duration{1};
  if (tokens(when) < kWholeToken) when += Duration{1};
  return when;
}

void TokenBucket::set_rate(std::optional<double> rate, TimePoint now) {
  accrue(now);
  if (!rate || (std::isinf(*rate) && *rate > 0)) {
    unlimited_ = true;
    return;
  }
  if (unlimited_) tokens_ = burst_;  // an unlimited bucket is a full one
  unlimited_ = false;
  rate_ = *rate > 0 ? *rate : 0.0;  // negative and NaN stop the bucket
}

void TokenBucket::set_burst(double burst, TimePoint now) {
  accrue(now);
  burst_ = sane_burst(burst);
  tokens_ = unlimited_ ? burst_ : std::min(tokens_, burst_);
}

std::optional<double> TokenBucket::rate() const {
  if (unlimited_) return std::nullopt;
  return rate_;
}

}  // namespace bulkq
