// Clock: the one source of "now" for the engine's logic.
//
// The pure core never reads the wall clock itself; it is handed a Clock (or a TimePoint) so unit
// tests drive time with a fake and stay deterministic. Times are wall-clock milliseconds because
// they are also written to the journal and must mean the same thing after a restart.
#pragma once

#include <chrono>
#include <cstdint>

namespace bulkq {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimePoint now() const = 0;
};

// The real clock. Thread-safe: it holds no state.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

// Whole seconds since the Unix epoch, saturated to 32 bits (good until 2106): the width a data
// node can afford for its enqueue time.
[[nodiscard]] inline std::uint32_t unix_seconds32(TimePoint t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (s <= 0) return 0;
  if (s >= 0xffffffffLL) return 0xffffffffU;
  return static_cast<std::uint32_t>(s);
}

}  // namespace bulkq
