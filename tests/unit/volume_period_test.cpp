// volume_period_key(): UTC period keys at the edges of hours, days, months and years (leap and
// not), before 1970, and a sweep checked against gmtime_r; the period words.
#include "quota/volume_period.h"

#include <time.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace bulkq;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using SystemTime = system_clock::time_point;

SystemTime at(year_month_day date, hours h = 0h, minutes m = 0min, seconds s = 0s,
              nanoseconds fraction = 0ns) {
  return SystemTime{sys_days{date}} + h + m + s + fraction;
}

// The instant just before `t`: the last nanosecond of the previous period when t starts one.
SystemTime just_before(SystemTime t) {
  return t - 1ns;
}

struct Row {
  SystemTime instant;
  const char* hour;
  const char* day;
  const char* month;
};

}  // namespace

TEST_CASE("volume period words round-trip and nothing else parses", "[quota]") {
  for (VolumePeriod period : kVolumePeriods) {
    CHECK(parse_volume_period(to_string(period)) == period);
  }
  CHECK(to_string(VolumePeriod::hour) == "hour");
  CHECK(to_string(VolumePeriod::day) == "day");
  CHECK(to_string(VolumePeriod::month) == "month");
  CHECK_FALSE(parse_volume_period("Day").has_value());
  CHECK_FALSE(parse_volume_period("days").has_value());
  CHECK_FALSE(parse_volume_period("").has_value());
  CHECK_FALSE(parse_volume_period("week").has_value());
}

TEST_CASE("volume period keys at hour, day, month and year boundaries", "[quota]") {
  const std::vector<Row> table = {
      // An ordinary instant.
      {at(2026y / 11 / 29, 19h, 42min, 7s), "2026-11-29T19", "2026-11-29", "2026-11"},
      // The last millisecond and nanosecond of an hour, and its end.
      {at(2026y / 11 / 29, 19h, 59min, 59s, 999ms), "2026-11-29T19", "2026-11-29", "2026-11"},
      {just_before(at(2026y / 11 / 29, 20h)), "2026-11-29T19", "2026-11-29", "2026-11"},
      {at(2026y / 11 / 29, 20h), "2026-11-29T20", "2026-11-29", "2026-11"},
      // Midnight: 23:59:59.999 is the old day, 00:00:00 the new one.
      {at(2026y / 11 / 29, 23h, 59min, 59s, 999ms), "2026-11-29T23", "2026-11-29", "2026-11"},
      {at(2026y / 11 / 30), "2026-11-30T00", "2026-11-30", "2026-11"},
      // Month ends of 30 and 31 days.
      {just_before(at(2026y / 12 / 1)), "2026-11-30T23", "2026-11-30", "2026-11"},
      {at(2026y / 12 / 1), "2026-12-01T00", "2026-12-01", "2026-12"},
      {just_before(at(2026y / 2 / 1)), "2026-01-31T23", "2026-01-31", "2026-01"},
      // February: 28 days in 2026, 29 in 2028 (leap), 28 in 2100 (not leap), 29 in 2000 (leap).
      {just_before(at(2026y / 3 / 1)), "2026-02-28T23", "2026-02-28", "2026-02"},
      {at(2026y / 3 / 1), "2026-03-01T00", "2026-03-01", "2026-03"},
      {at(2028y / 2 / 29, 12h), "2028-02-29T12", "2028-02-29", "2028-02"},
      {just_before(at(2028y / 3 / 1)), "2028-02-29T23", "2028-02-29", "2028-02"},
      {just_before(at(2100y / 3 / 1)), "2100-02-28T23", "2100-02-28", "2100-02"},
      {just_before(at(2000y / 3 / 1)), "2000-02-29T23", "2000-02-29", "2000-02"},
      // New year.
      {just_before(at(2027y / 1 / 1)), "2026-12-31T23", "2026-12-31", "2026-12"},
      {at(2027y / 1 / 1), "2027-01-01T00", "2027-01-01", "2027-01"},
      // The epoch, and before it: floor, not truncation towards zero.
      {SystemTime{}, "1970-01-01T00", "1970-01-01", "1970-01"},
      {just_before(SystemTime{}), "1969-12-31T23", "1969-12-31", "1969-12"},
      {SystemTime{} - 30min, "1969-12-31T23", "1969-12-31", "1969-12"},
  };
  for (const Row& row : table) {
    INFO("instant " << row.instant.time_since_epoch().count() << " ns");
    CHECK(volume_period_key(VolumePeriod::hour, row.instant) == row.hour);
    CHECK(volume_period_key(VolumePeriod::day, row.instant) == row.day);
    CHECK(volume_period_key(VolumePeriod::month, row.instant) == row.month);
  }
}

TEST_CASE("volume period keys take the engine's millisecond TimePoint", "[quota]") {
  // core/clock.h's TimePoint converts without a cast.
  const auto instant = time_point_cast<milliseconds>(at(2026y / 11 / 29, 23h, 59min, 59s, 999ms));
  CHECK(volume_period_key(VolumePeriod::day, instant) == "2026-11-29");
  CHECK(volume_period_key(VolumePeriod::day, instant + 1ms) == "2026-11-30");
}

TEST_CASE("volume period keys agree with gmtime_r over five years", "[quota]") {
  // A step that is not a divisor of an hour, so instants land everywhere within hours and days.
  const SystemTime start = at(2024y / 1 / 1) - 7h;
  const SystemTime end = at(2029y / 1 / 1);
  int checked = 0;
  for (SystemTime t = start; t < end; t += 4001s + 333ms) {
    const time_t seconds = system_clock::to_time_t(
        time_point_cast<system_clock::duration>(floor<std::chrono::seconds>(t)));
    struct tm tm {};
    REQUIRE(gmtime_r(&seconds, &tm) != nullptr);
    char hour[32];
    std::snprintf(hour, sizeof hour, "%04d-%02d-%02dT%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour);
    const std::string expected_hour = hour;
    REQUIRE(volume_period_key(VolumePeriod::hour, t) == expected_hour);
    REQUIRE(volume_period_key(VolumePeriod::day, t) == expected_hour.substr(0, 10));
    REQUIRE(volume_period_key(VolumePeriod::month, t) == expected_hour.substr(0, 7));
    ++checked;
  }
  CHECK(checked > 39000);
}

TEST_CASE("volume period keys of one kind sort in time order", "[quota]") {
  for (VolumePeriod period : kVolumePeriods) {
    INFO(to_string(period));
    std::string previous = volume_period_key(period, at(1999y / 12 / 31, 23h));
    for (SystemTime t = at(1999y / 12 / 31, 23h); t < at(2031y / 1 / 1); t += 97h) {
      const std::string key = volume_period_key(period, t);
      REQUIRE(key >= previous);
      previous = key;
    }
  }
}
