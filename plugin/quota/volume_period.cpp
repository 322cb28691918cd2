#include "quota/volume_period.h"

#include <cstdio>

namespace bulkq {

std::string volume_period_key(VolumePeriod period, std::chrono::system_clock::time_point instant) {
  using namespace std::chrono;
  // floor, not duration_cast: before 1970 the count is negative and must round towards the past,
  // or 1969-12-31T23:30 would land in 1970-01-01.
  const sys_days day = floor<days>(instant);
  const year_month_day date{day};
  const auto hour = floor<hours>(instant - day).count();  // 0..23

  char text[32];
  const int year = static_cast<int>(date.year());
  const unsigned month = static_cast<unsigned>(date.month());
  const unsigned day_of_month = static_cast<unsigned>(date.day());
  int length = 0;
  switch (period) {
    case VolumePeriod::hour:
      length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d", year, month, day_of_month,
                             static_cast<int>(hour));
      break;
    case VolumePeriod::day:
      length = std::snprintf(text, sizeof text, "%04d-%02u-%02u", year, month, day_of_month);
      break;
    case VolumePeriod::month:
      length = std::snprintf(text, sizeof text, "%04d-%02u", year, month);
      break;
  }
  if (length <= 0) return {};
  return std::string(text, static_cast<std::size_t>(length));
}

}  // namespace bulkq
