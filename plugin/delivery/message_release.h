// MessageRelease: `bulkqctl release DOMAIN | release --all` — held messages handed back to the
// MTA with only their unfinished recipients, then forgotten by bulkq.
//
// Thread: the scheduler thread (it owns the Scheduler, the journal and the delivery engine).
// One object per request: start() picks the messages, step() releases the next few and can be
// called again on a later turn of the event loop, so a request over a million messages never
// holds the loop for long (the caller bounds each step by count and time).
//
// Per message, in this order, so a crash at any point loses nothing and delivers nothing twice
// beyond what Postfix itself would:
//   1. the delivery engine's pending outcomes are committed (journal bits durable);
//   2. the spool marks the finished recipients done in the held file (Postfix R→D, fsync) and
//      moves it to the MTA's queue (hold/ID → deferred/…/ID, directories fsynced);
//   3. its journal record is removed (one transaction per step);
//   4. its waiting nodes leave every domain queue, its recipients waiting out a retry delay
//      leave the delivery engine, its record leaves the table.
// A crash after 2 leaves a record whose held file is gone: startup recovery drops it with a log
// line. A crash during 2 leaves the file held with some recipients `D`: recovery counts them
// finished, as the journal already does.
//
// A message a session carries right now is not released ("busy": run the request again). One
// the spool cannot release is counted failed and left as it was; if its held file is gone, its
// record is dropped and it is forgotten (as delivery does when it finds a file gone).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/release_reply.h"
#include "config/config.h"
#include "core/scheduler.h"
#include "journal/journal.h"
#include "spool/spool_adapter.h"

namespace bulkq {

class DeliveryEngine;

struct MessageReleaseHooks {
  std::function<void()> before_journal_batch;                // the intake's group commit goes first
  std::function<void(std::uint64_t heap_bytes)> on_removed;  // a record left the table
  std::function<void(LogLevel, std::string_view)> log;
};

class MessageRelease {
 public:
  // `delivery` may be null (delivery.enabled = false: nothing is in flight or waiting a retry).
  MessageRelease(Scheduler& scheduler, Journal& journal, SpoolAdapter& spool,
                 DeliveryEngine* delivery, MessageReleaseHooks hooks);

  // Picks the messages: those with an unfinished recipient for `domain` (waiting in its queue,
  // in flight to it, or waiting out a retry delay for it), or every message when `domain` is
  // empty. Messages the MTA has not committed yet are not bulkq's to release.
  void start(std::string_view domain);

  // Looks at up to `max_messages` more of them (stopping early once `out_of_time` says so).
  // True when every picked message has been looked at. False also when the delivery engine's
  // pending outcomes could not be committed: then failed_to_start() is true, report().error says
  // so and this step did nothing (the caller stops).
  bool step(std::size_t max_messages, const std::function<bool()>& out_of_time = {});
  [[nodiscard]] bool failed_to_start() const { return journal_failed_; }

  // So far; remaining = picked messages not yet looked at.
  [[nodiscard]] ReleaseReport report() const;

 private:
  void log(LogLevel level, std::string_view text) const {
    if (hooks_.log) hooks_.log(level, text);
  }
  void fail(const std::string& error);

  Scheduler& scheduler_;
  Journal& journal_;
  SpoolAdapter& spool_;
  DeliveryEngine* delivery_;
  MessageReleaseHooks hooks_;
  std::vector<std::pair<MessageIndex, MessageId>> picked_;
  std::size_t next_ = 0;
  ReleaseReport report_;
  bool journal_failed_ = false;
};

}  // namespace bulkq
