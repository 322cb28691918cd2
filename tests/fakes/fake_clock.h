// FakeClock: a Clock that only moves when a test says so.
#pragma once

#include "core/clock.h"

namespace bulkq::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{Duration{1'800'000'000'000}}) : now_(start) {}
  [[nodiscard]] TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace bulkq::testing
