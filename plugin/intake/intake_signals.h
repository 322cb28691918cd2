// IntakeSignals: the few facts the milter threads and the scheduler thread share, as atomics.
//
// The scheduler thread publishes the engine's health (journal writable, estimated memory); the
// milter threads read it at end-of-message to decide whether to divert or fail open, and count
// what they decided. Nothing here locks: a milter callback never waits on the scheduler.
#pragma once

#include <atomic>
#include <cstdint>

#include "admin/engine_status.h"

namespace bulkq {

struct IntakeSignals {
  // Written by the scheduler thread.
  std::atomic<bool> journal_ok{true};
  std::atomic<std::uint64_t> memory_bytes{0};
  // Set once at start-up (intake.memory_limit) and by the scheduler thread on reload.
  std::atomic<std::uint64_t> memory_limit_bytes{0};
  // Set by the main thread when bulkqd begins to stop: new bulk mail then fails open, so nothing
  // is handed to an engine that will not run again.
  std::atomic<bool> stopping{false};

  // Written by the milter threads.
  std::atomic<std::uint64_t> diverted{0};
  std::atomic<std::uint64_t> passed{0};
  std::atomic<std::uint64_t> fail_open_journal{0};
  std::atomic<std::uint64_t> fail_open_memory{0};
  std::atomic<std::uint64_t> fail_open_handoff{0};
  std::atomic<std::uint64_t> fail_open_spool{0};
  std::atomic<std::uint64_t> fail_open_quota{0};   // past a volume limit, quota.action = fail_open
  std::atomic<std::uint64_t> quota_tempfailed{0};  // past a volume limit, quota.action = tempfail

  [[nodiscard]] FailOpenCounts fail_open() const {
    FailOpenCounts counts;
    counts.journal = fail_open_journal.load(std::memory_order_relaxed);
    counts.memory = fail_open_memory.load(std::memory_order_relaxed);
    counts.handoff = fail_open_handoff.load(std::memory_order_relaxed);
    counts.spool = fail_open_spool.load(std::memory_order_relaxed);
    counts.quota = fail_open_quota.load(std::memory_order_relaxed);
    return counts;
  }
};

}  // namespace bulkq
