// FakeClock: a Clock that only moves when a test says so — or, with step_on_read(d), by d at
// every reading, like real time passing while the code under test runs.
#pragma once

#include "core/clock.h"

namespace bulkq::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{Duration{1'800'000'000'000}}) : now_(start) {}
  [[nodiscard]] TimePoint now() const override {
    const TimePoint t = now_;
    now_ += step_;
    return t;
  }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }
  void step_on_read(Duration d) { step_ = d; }

 private:
  mutable TimePoint now_;
  Duration step_{0};
};

}  // namespace bulkq::testing
