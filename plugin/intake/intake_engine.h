// IntakeEngine: the scheduler thread's intake work — new diverted messages from the handoff, the
// wait for the MTA to commit their held files, the journal records, and startup recovery.
//
// Owned by the scheduler thread, which calls recover() once before the milter starts and then
// step() in its loop. Everything it touches is its own or behind the engine's seams: the
// Scheduler (pure core), the Journal (LMDB), the SpoolAdapter (the MTA's hold queue) and a Clock,
// so tests drive it with fakes. It talks to the milter threads only through the lock-free
// handoff and the IntakeSignals atomics, and to the admin server through status().
//
// A diverted message's life here:
//   handoff → pending (journal record, state pending_commit) → the MTA's held file is complete
//   and carries our marker → its envelope is read from the file (the MTA may have rewritten
//   recipients after the milter saw them) → queued (journal record updated, nodes filed).
//   A message whose file never appears within commit_timeout is forgotten (record removed).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admin/engine_status.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/intake_message.h"
#include "core/scheduler.h"
#include "intake/intake_handoff.h"
#include "intake/intake_signals.h"
#include "journal/journal.h"
#include "spool/spool_adapter.h"

namespace bulkq {

// One log line from the engine; bulkqd routes it to spdlog. Never called with a lock held.
using EngineLog = std::function<void(LogLevel, std::string_view)>;

struct IntakeEngineOptions {
  MtaKind kind = MtaKind::postfix;
  Duration commit_timeout = std::chrono::seconds(300);
  std::uint64_t memory_limit_bytes = std::uint64_t{1024} << 20;
  std::string version;
  // How long journal changes may wait to be committed together (group commit: one fsync for the
  // messages of several rounds). 0: every round commits. Safe to delay: a held file with bulkq's
  // marker and no record is adopted by recovery, so a crash in the window loses nothing.
  Duration journal_group_window{0};
};

struct RecoveryReport {
  std::uint64_t recovered = 0;   // records rebuilt into queues
  std::uint64_t adopted = 0;     // held files with our marker and no record
  std::uint64_t dropped = 0;     // records whose held file was gone (or not ours any more)
  std::uint64_t finished = 0;    // records whose every recipient was finished: file removed
  std::uint64_t pending = 0;     // records whose file is not complete yet: waiting again
  std::uint64_t errors = 0;      // records or files left alone because they could not be read
  std::uint64_t recipients = 0;  // unfinished recipients queued
  MessageId next_id = 1;         // the first id the intake may hand out
  bool journal_ok = true;        // false: the journal could not be read or written
  std::string journal_error;
};

class IntakeEngine {
 public:
  IntakeEngine(const Clock& clock, Scheduler& scheduler, IntakeHandoff& handoff, Journal& journal,
               SpoolAdapter& spool, IntakeSignals& signals, IntakeEngineOptions options,
               EngineLog log);

  // Startup recovery (DESIGN §3.4): rebuilds the queues from the journal, checking each held
  // file; adopts held files that carry bulkq's marker but have no record; drops records whose
  // file is gone, with a log line. Call once, before the milter accepts mail.
  RecoveryReport recover();

  // One round of intake work. Returns true if it did anything (the caller then runs it again
  // at once; otherwise it may sleep a little).
  bool step();

  // Final round when bulkqd stops: drains what the milter handed over and commits it.
  void drain();

  // Commits the journal changes still waiting in a group commit (another part of the engine
  // needs the journal to itself, or durability now).
  void flush_journal() {
    if (batch_open_) journal_commit();
  }

  // Delivery removed a finished message's record from the scheduler (its heap bytes leave the
  // memory estimate).
  void note_record_removed(std::uint64_t heap_bytes) {
    records_bytes_ -= std::min(records_bytes_, heap_bytes);
  }

  [[nodiscard]] EngineStatus status() const;
  [[nodiscard]] std::size_t pending_count() const { return pending_.size(); }
  // Estimated memory of what the engine holds (records + data nodes + pending messages).
  [[nodiscard]] std::uint64_t memory_bytes() const { return memory_bytes_; }

 private:
  struct Pending {
    MessageId id = 0;
    std::string queue_id;
    std::unique_ptr<IntakeMessage> message;  // null for a record recovery found pending
    TimePoint deadline{};
    bool warned = false;  // a failed check was logged once (the check repeats every round)
  };

  bool drain_handoff(TimePoint now);
  bool check_pending(TimePoint now);
  // Reads the committed file of `pending`; queues it or reports why not. True: leave pending.
  bool commit(Pending& pending);
  bool queue_from_file(MessageId id, const HeldEnvelope& envelope, const JournalRecord* record,
                       TimePoint first_seen);
  void admit_recovered(std::unique_ptr<IntakeMessage> message);
  void journal_put(MessageId id, const JournalRecord& record);
  void journal_remove(MessageId id);
  void journal_commit();
  void log(LogLevel level, std::string_view text) const {
    if (log_) log_(level, text);
  }
  void publish_health();

  const Clock& clock_;
  Scheduler& scheduler_;
  IntakeHandoff& handoff_;
  Journal& journal_;
  SpoolAdapter& spool_;
  IntakeSignals& signals_;
  IntakeEngineOptions options_;
  EngineLog log_;

  std::vector<Pending> pending_;
  bool batch_open_ = false;
  TimePoint batch_opened_at_{};
  std::uint64_t memory_bytes_ = 0;
  std::uint64_t records_bytes_ = 0;  // heap bytes of the records in the scheduler's table
  std::uint64_t commit_expired_ = 0;
  RecoveryReport recovery_;
  TimePoint started_{};
  std::string journal_error_;
};

}  // namespace bulkq
