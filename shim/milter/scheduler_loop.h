// SchedulerLoop: the scheduler thread of bulkqd — one Boost.Asio event loop that runs the intake
// rounds (IntakeEngine), the delivery engine's batches and SMTP sessions, the c-ares resolver,
// the DNS refresher, and publishes the status the admin server reads.
//
// Everything the scheduler owns (Scheduler, journal, DNS cache) is touched on this one thread, so
// nothing in the engine locks; milter threads reach it only through the lock-free handoff.
// Asio, c-ares and OpenSSL stay in scheduler_loop.cpp (they cost ~30 s of compile time per TU).
//
// Stopping: stop() (any thread) makes the loop drain the intake, start no new batch, wait up to
// `drain_timeout` for the sessions in flight to report (their outcomes are journaled), and
// return from run(). Sessions still open then are abandoned: their recipients stay unfinished in
// the journal and are sent again after a restart (DESIGN §4: duplicates bounded by what was in
// flight).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "admin/admin_request.h"
#include "admin/status_board.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/scheduler.h"
#include "intake/intake_engine.h"
#include "journal/journal.h"
#include "quota/volume_counter.h"
#include "spool/spool_adapter.h"

namespace bulkq {

class BounceSender;

struct SchedulerLoopParts {
  const Config* config = nullptr;
  const Clock* clock = nullptr;
  Scheduler* scheduler = nullptr;
  IntakeEngine* intake = nullptr;
  Journal* journal = nullptr;
  SpoolAdapter* spool = nullptr;
  BounceSender* bounces = nullptr;
  StatusBoard* board = nullptr;
  EngineLog log;           // engine and delivery log lines (Postfix-shaped)
  int accounting_fd = -1;  // the accounting log, open O_APPEND; -1: none
  std::string helo_name;   // our EHLO name and the DSNs' reporting host
  // Flushed to its store and shown in status once a second (and at the end); may be null.
  VolumeCounter* volume = nullptr;
  std::chrono::seconds drain_timeout{30};
};

class SchedulerLoop {
 public:
  // Builds the resolver, the DNS cache (opening its LMDB store) and the delivery engine. Call
  // on the thread that will run() the loop, or before that thread starts. Empty on success.
  [[nodiscard]] static std::unique_ptr<SchedulerLoop> create(SchedulerLoopParts parts,
                                                             std::string& error);
  virtual ~SchedulerLoop() = default;

  // Runs until stop(); returns when the sessions in flight have reported or drain_timeout passed.
  virtual void run() = 0;
  // Any thread.
  virtual void stop() = 0;

  // Any thread (the admin server's): the reply line to `request` (queues, domain, pause, resume,
  // flush, dns, metrics), made on the scheduler thread, which owns what they read and change.
  // Empty when that thread did not answer within `timeout` (stopping, or very busy).
  [[nodiscard]] virtual std::optional<std::string> answer(const AdminRequest& request,
                                                          std::chrono::milliseconds timeout) = 0;

  // Any thread (a reload): applies `next`'s delivery limits, TLS policies, retry schedules,
  // timeouts and [shaping] to the delivery engine, on the scheduler thread. An empty string when
  // applied (or delivery is off), the error otherwise; empty optional when that thread did not
  // answer within `timeout`.
  [[nodiscard]] virtual std::optional<std::string> reconfigure(
      const Config& next, std::chrono::milliseconds timeout) = 0;
};

}  // namespace bulkq
