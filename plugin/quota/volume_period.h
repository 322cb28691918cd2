// VolumePeriod: the stretch of time a volume quota counts over (DESIGN §3.8), and the key that
// names one such stretch: "2026-11-29T19" (an hour), "2026-11-29" (a day), "2026-11" (a month).
//
// Periods are UTC calendar periods, so "this month" is the same stretch on every host whatever its
// time zone or daylight-saving rules, and an hour never lasts two hours on the night the clocks go
// back. Keys are fixed-width ISO 8601 prefixes: keys of one period kind sort in time order as
// plain strings, which the counter and the LMDB store rely on.
//
// Pure: no clock, no I/O, no state; any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bulkq {

enum class VolumePeriod : std::uint8_t { hour, day, month };

inline constexpr std::array kVolumePeriods{VolumePeriod::hour, VolumePeriod::day,
                                           VolumePeriod::month};

// The configuration word: "hour", "day", "month".
[[nodiscard]] constexpr std::string_view to_string(VolumePeriod period) {
  switch (period) {
    case VolumePeriod::hour:
      return "hour";
    case VolumePeriod::day:
      return "day";
    case VolumePeriod::month:
      return "month";
  }
  return "unknown";
}

// The inverse of to_string(); exact spelling only (configuration words are lower case).
[[nodiscard]] constexpr std::optional<VolumePeriod> parse_volume_period(std::string_view word) {
  for (VolumePeriod period : kVolumePeriods) {
    if (word == to_string(period)) return period;
  }
  return std::nullopt;
}

// The key of the UTC period `instant` falls in. An instant belongs to the period it is inside of,
// to the nanosecond: 23:59:59.999999999 is still the old day, 00:00:00 is the new one. Any
// instant system_clock can hold has a key (years before 1000 are zero-padded to four digits).
[[nodiscard]] std::string volume_period_key(VolumePeriod period,
                                            std::chrono::system_clock::time_point instant);

}  // namespace bulkq
