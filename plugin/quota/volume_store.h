// VolumeStore: where the volume counter (volume_counter.h) keeps its counts across restarts, so a
// restarted bulkqd goes on counting the current period instead of granting a fresh quota.
// LmdbVolumeStore (lmdb_volume_store.h) keeps them in LMDB; tests use an in-memory fake.
//
// The seam is small on purpose: the counter loads the current period once at start-up, then
// saves what changed on every flush tick. Counts are written as absolute figures, never as
// increments, so saving the same figures twice, or an older figure followed by a newer one,
// leaves the store right: a failed save is simply repeated with the latest figures.
//
// Errors are values (an empty string is success); nothing throws (allocation failure aside).
//
// Thread: whichever thread the implementation names; the counter calls load() from restore() and
// save() from flush(), never with its own mutex held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bulkq {

// What one scope has counted in one period.
struct VolumeCounts {
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  bool operator==(const VolumeCounts&) const = default;
};

// The counts of one period by scope: the global figure, and one figure per sender domain
// (lower case; "" is the null sender).
struct VolumePeriodCounts {
  VolumeCounts global;
  std::map<std::string, VolumeCounts> domains;
  bool operator==(const VolumePeriodCounts&) const = default;
};

// What load() read.
struct VolumeLoadResult {
  VolumePeriodCounts counts;  // what decoded; all zero when nothing was stored for the period
  std::size_t skipped = 0;    // records that did not decode (their scope counts from zero)
  std::string first_skip;     // why the first skipped record was skipped
  std::string error;          // the store could not be read at all (or only in part)
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class VolumeStore {
 public:
  virtual ~VolumeStore() = default;

  // The counts stored for `period_key` (volume_period.h).
  [[nodiscard]] virtual VolumeLoadResult load(std::string_view period_key) = 0;
  // Writes counts.global and every domain in counts.domains for `period_key`, replacing what was
  // stored for those scopes; scopes not named keep their stored figures. May forget periods older
  // than the one before `period_key`. Empty on success.
  [[nodiscard]] virtual std::string save(std::string_view period_key,
                                         const VolumePeriodCounts& counts) = 0;
};

}  // namespace bulkq
