// VolumeCounter: how many messages and recipients bulkq has taken per period, globally and per
// sender domain, against the licensed or quota figures (DESIGN §3.8). The intake asks admit()
// before it diverts a message; over a limit, it applies the configured action (stop diverting, or
// tempfail new bulk mail) — that choice is the caller's, not the counter's.
//
// Promised:
//   - admit() counts a message only when counting it keeps every applicable limit: a message that
//     exactly reaches a limit is admitted, the next one is over. Applicable limits are the global
//     ones and, when the sender domain is listed, that domain's own. An over message counts
//     nothing, so a refused message never uses up quota.
//   - Concurrent admits never pass a limit: the check and the count happen under one mutex.
//   - Every sender domain is counted (listed or not), up to VolumeLimits::max_counted_domains
//     distinct unlisted ones, so status can show the biggest senders. Past that cap a new unlisted
//     domain is counted globally only (a flood of made-up sender domains must not grow memory
//     without bound); its figures show as `untracked` in the snapshot.
//   - Sender domains are compared without regard to ASCII case and kept in lower case. The null
//     sender is domain "". A domain longer than 253 bytes (never a valid name) is cut to 253, so
//     no MAIL FROM can make a store key too long.
//   - Periods roll over when an instant falls in a later period: counts restart at zero and the
//     earlier period is no longer consulted. An instant from an earlier period is counted in the
//     current one when it is at most kVolumeClockTolerance behind the latest instant seen (a
//     milter thread that read the clock just before midnight and took the lock just after); an
//     instant further back means the clock was set back, and the counter moves to that period,
//     starting it from zero, rather than stay stuck in a future period it might never leave.
//   - Counts saturate: no figure wraps, even when a damaged store hands back 2^64 - 1.
//
// Persistence (optional: a null VolumeStore keeps counts in memory only): restore() loads the
// current period at start-up; flush() writes the scopes changed since the last flush. Counts are
// copied under the mutex and written outside it. Durability window: a bulkqd killed (kill -9,
// crash) forgets what was counted since the last successful flush — with a flush a second, at
// most one second of admits — so after a restart the quota can be passed by at most that much.
// A failed flush keeps the changes and writes the latest figures next time.
//
// Threads: admit(), refund() and snapshot() are called from any thread (the milter threads, the
// admin server); each holds the mutex for a few map operations only, never across I/O.
// restore() and flush() make the store calls, so they belong to the thread that owns the store
// (for LmdbVolumeStore, the thread that opened it); flush() is serialised by a mutex of its own
// that milter threads never take.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quota/volume_period.h"
#include "quota/volume_store.h"

namespace bulkq {

// How far behind the latest instant seen an admit from the previous period may be and still be
// taken for a late caller, not a clock set back. Far longer than a thread waits for the mutex;
// far shorter than any real clock correction worth honouring.
inline constexpr std::chrono::minutes kVolumeClockTolerance{5};

// RFC 1035: no domain name is longer. Longer sender domains are cut to this length.
inline constexpr std::size_t kMaxVolumeDomainLength = 253;

// Limits of one sender domain per period; 0 = unlimited.
struct VolumeDomainLimits {
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  bool operator==(const VolumeDomainLimits&) const = default;
};

struct VolumeLimits {
  VolumePeriod period = VolumePeriod::day;
  // Global limits per period, all sender domains together; 0 = unlimited.
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  // Per sender domain, in any case ("" = the null sender). Two spellings of one domain
  // ("Example.COM", "example.com") merge, keeping the stricter limit of each kind.
  std::map<std::string, VolumeDomainLimits> domains;
  // Distinct unlisted sender domains counted per period; listed domains are always counted.
  std::size_t max_counted_domains = 100'000;
};

// Which limit refused a message.
enum class VolumeScope : std::uint8_t { global, sender_domain };
enum class VolumeMeasure : std::uint8_t { messages, recipients };

[[nodiscard]] constexpr std::string_view to_string(VolumeScope scope) {
  return scope == VolumeScope::global ? "global" : "sender domain";
}
[[nodiscard]] constexpr std::string_view to_string(VolumeMeasure measure) {
  return measure == VolumeMeasure::messages ? "messages" : "recipients";
}

enum class VolumeVerdict : std::uint8_t { admitted, over };

struct VolumeAdmission {
  VolumeVerdict verdict = VolumeVerdict::admitted;
  std::string period_key;  // the period the message was counted in, or refused in
  // Set when over: the first limit the message would pass (global before the sender domain's,
  // messages before recipients).
  VolumeScope scope = VolumeScope::global;
  std::string domain;  // the sender domain (lower case) when scope == sender_domain
  VolumeMeasure measure = VolumeMeasure::messages;
  std::uint64_t limit = 0;
  std::uint64_t count = 0;   // counted so far in this scope and period
  std::uint64_t adding = 0;  // what this message would have added: 1, or its recipients

  [[nodiscard]] bool admitted() const { return verdict == VolumeVerdict::admitted; }
  // For a log line or a tempfail reply: "volume quota reached: sender domain example.com,
  // recipients 998 of 1000 in period 2026-11-29, the message has 5", or "admitted (2026-11-29)".
  [[nodiscard]] std::string describe() const;
};

struct VolumeDomainCounts {
  std::string domain;
  VolumeCounts counts;
  bool operator==(const VolumeDomainCounts&) const = default;
};

// The figures of one period, for status and metrics.
struct VolumeSnapshot {
  std::string period_key;
  VolumeLimits limits;  // as the counter applies them (domains in lower case)
  VolumeCounts global;
  // Every counted sender domain: most messages first, then most recipients, then by name.
  std::vector<VolumeDomainCounts> domains;
  // Counted globally only, past max_counted_domains (since this process started the period).
  VolumeCounts untracked;
};

class VolumeCounter {
 public:
  // `store` may be null (counts kept in memory only); otherwise it must outlive the counter.
  VolumeCounter(VolumeLimits limits, VolumeStore* store);
  VolumeCounter(const VolumeCounter&) = delete;
  VolumeCounter& operator=(const VolumeCounter&) = delete;

  // Any thread. Counts one message with `recipients` recipients from `sender_domain` at `now`,
  // unless that would pass a limit: then counts nothing and says which limit.
  [[nodiscard]] VolumeAdmission admit(std::string_view sender_domain, std::uint32_t recipients,
                                      std::chrono::system_clock::time_point now);

  // Any thread. Undoes one admit() of the same message (the caller could not divert it after
  // all). `admitted_at` is the `now` given to admit(); a refund for a period that has rolled over
  // since is ignored (that period no longer counts). So is the rare refund of a late caller's
  // admit counted into the next period: the count stays one too high, the safe side. Counts never
  // go below zero.
  void refund(std::string_view sender_domain, std::uint32_t recipients,
              std::chrono::system_clock::time_point admitted_at);

  // Any thread. The figures of the period `now` falls in (all zero when that is a new period).
  [[nodiscard]] VolumeSnapshot snapshot(std::chrono::system_clock::time_point now) const;

  // The store's thread, once, at start-up, before the first admit() if possible: adds the counts
  // stored for the period `now` falls in to what was counted so far. Empty on success; otherwise
  // the text to log (a read error, or records skipped as malformed — those scopes count from
  // zero). Counting goes on either way. A second call for the same period changes nothing and
  // says so.
  [[nodiscard]] std::string restore(std::chrono::system_clock::time_point now);

  // The store's thread, periodically (once a second, say): writes the scopes changed since the
  // last flush, the unwritten changes of a period that has rolled over first. Empty on success or
  // when there was nothing to write. On failure the changes are kept for the next flush.
  [[nodiscard]] std::string flush();

  [[nodiscard]] const VolumeLimits& limits() const { return limits_; }

 private:
  struct DomainEntry {
    VolumeCounts counts;
    bool dirty = false;  // changed since the last flush took it
  };

  // What decides the period of an instant, under mutex_.
  [[nodiscard]] bool starts_new_period_locked(const std::string& key,
                                              std::chrono::system_clock::time_point now) const;
  void enter_period_locked(const std::string& key, std::chrono::system_clock::time_point now);
  void mark_dirty_locked(const std::string& domain, DomainEntry& entry);
  [[nodiscard]] VolumePeriodCounts take_dirty_locked();
  // Keeps changes a flush could not write. `newer`: they supersede what is already kept.
  void keep_unsaved_locked(const std::string& key, VolumePeriodCounts counts, bool newer);
  [[nodiscard]] bool has_dirty_locked() const { return global_dirty_ || !dirty_domains_.empty(); }

  const VolumeLimits limits_;  // never changes: read without the mutex
  VolumeStore* const store_;

  std::mutex flush_mutex_;  // one flush at a time, so an older save never lands after a newer one

  mutable std::mutex mutex_;
  // Everything below is guarded by mutex_.
  std::string period_key_;  // "" until the first instant is seen
  std::chrono::system_clock::time_point latest_now_{};
  VolumeCounts global_;
  VolumeCounts untracked_;
  std::unordered_map<std::string, DomainEntry> domains_;
  std::size_t unlisted_domains_ = 0;  // entries in domains_ without limits of their own
  bool global_dirty_ = false;
  std::vector<std::string> dirty_domains_;  // the entries with dirty set, each once
  // Changes of earlier periods not written yet, by period key (at most two periods: the store
  // keeps no more than that anyway).
  std::map<std::string, VolumePeriodCounts> unsaved_;
  std::string restored_period_;
};

}  // namespace bulkq
