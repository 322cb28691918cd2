// StatusBoard: the latest EngineStatus, handed from the scheduler thread to the admin server.
//
// Threads: the scheduler thread calls publish() whenever its figures change (or on a tick); the
// admin server's thread calls latest() when a `status` request arrives. Both copy one
// EngineStatus under a mutex that nothing else takes, so neither waits longer than one copy.
// Before the first publish(), latest() gives a default EngineStatus (all zero, journal_ok).
#pragma once

#include <mutex>

#include "admin/engine_status.h"

namespace bulkq {

class StatusBoard {
 public:
  StatusBoard() = default;
  StatusBoard(const StatusBoard&) = delete;
  StatusBoard& operator=(const StatusBoard&) = delete;

  // Scheduler thread.
  void publish(const EngineStatus& status);

  // Any thread: a copy, consistent as one publish() left it.
  [[nodiscard]] EngineStatus latest() const;

 private:
  mutable std::mutex mutex_;
  EngineStatus status_;  // guarded by mutex_
};

}  // namespace bulkq
