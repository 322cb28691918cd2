// TokenBucket: paces message starts to a rate, allowing a small burst.
//
// Tokens accrue at `rate` per second up to `burst`; starting a message takes one. The rate is
// one of three explicit kinds, because each means something different to the caller:
//   - unlimited (std::nullopt, or +infinity): every try_take() succeeds and no token is spent;
//   - stopped (0, a negative rate or NaN): no token ever accrues; what is left may be spent,
//     then next_available() answers TimePoint::max() ("not until the rate changes");
//   - a positive rate.
//
// Pure value type: no clock, no thread. Time comes in as TimePoint; a `now` earlier than the
// last one seen (a clock stepped back) mints no tokens and loses none. Owned by whoever owns
// the destination's shaping state (the scheduler thread).
#pragma once

#include <optional>

#include "core/clock.h"

namespace bulkq {

class TokenBucket {
 public:
  // `burst` below 1 (or NaN) is raised to 1: a bucket that can never hold a whole token would
  // never let a message start. The bucket starts full.
  TokenBucket(std::optional<double> rate, double burst, TimePoint now);

  // Takes a token when one is there. Always true when the rate is unlimited.
  [[nodiscard]] bool try_take(TimePoint now);

  // When the next token is there: `now` when one already is (or the rate is unlimited),
  // TimePoint::max() when the rate is stopped and the bucket is empty. Never earlier than `now`.
  [[nodiscard]] TimePoint next_available(TimePoint now) const;

  // Changes the rate from `now` on. Tokens accrued so far at the old rate are kept (up to the
  // burst): a rate change neither hands out a free burst nor confiscates what was earned.
  // Leaving "unlimited" keeps a full bucket.
  void set_rate(std::optional<double> rate, TimePoint now);
  // Changes the burst from `now` on; tokens above the new burst are dropped.
  void set_burst(double burst, TimePoint now);

  // nullopt when unlimited; 0 when stopped.
  [[nodiscard]] std::optional<double> rate() const;
  [[nodiscard]] double burst() const { return burst_; }
  // Tokens held at `now` (the burst when unlimited).
  [[nodiscard]] double tokens(TimePoint now) const;

 private:
  void accrue(TimePoint now);

  bool unlimited_ = true;
  double rate_ = 0;  // tokens per second, >= 0; meaningful only when !unlimited_
  double burst_ = 1;
  double tokens_ = 1;
  TimePoint last_{};
};

}  // namespace bulkq
