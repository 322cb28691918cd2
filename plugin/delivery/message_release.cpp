#include "delivery/message_release.h"

#include <algorithm>
#include <unordered_set>

#include "delivery/delivery_engine.h"

namespace bulkq {

MessageRelease::MessageRelease(Scheduler& scheduler, Journal& journal, SpoolAdapter& spool,
                               DeliveryEngine* delivery, MessageReleaseHooks hooks)
    : scheduler_(scheduler),
      journal_(journal),
      spool_(spool),
      delivery_(delivery),
      hooks_(std::move(hooks)) {}

void MessageRelease::start(std::string_view domain) {
  const MessageTable& messages = scheduler_.messages();
  std::vector<MessageIndex> indexes;
  if (domain.empty()) {
    messages.for_each([&](MessageIndex m, const MessageRecord&) { indexes.push_back(m); });
  } else {
    if (const DomainQueue* queue = scheduler_.queues().find(domain)) {
      const NodeRing& nodes = queue->nodes();
      for (std::uint32_t i = 0; i < nodes.size(); ++i)
        indexes.push_back(nodes[i].message);
    }
    if (delivery_ != nullptr) {
      (void)delivery_->withdraw_waiting([&](MessageIndex m, std::string_view d, bool) {
        if (d == domain) indexes.push_back(m);
        return false;
      });
    }
  }
  std::sort(indexes.begin(), indexes.end());
  indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
  picked_.clear();
  picked_.reserve(indexes.size());
  for (const MessageIndex m : indexes) {
    if (messages.contains(m)) picked_.emplace_back(m, messages[m].id());
  }
  next_ = 0;
}

void MessageRelease::fail(const std::string& error) {
  ++report_.failed;
  if (report_.error.empty()) report_.error = error;
}

bool MessageRelease::step(std::size_t max_messages, const std::function<bool()>& out_of_time) {
  if (next_ >= picked_.size()) return true;
  // 1. Outcomes of sessions that ended are made durable first: a recipient sent a moment ago is
  // finished in the record (and so marked done in the file below) and in the journal.
  if (delivery_ != nullptr && delivery_->commit_pending() && !delivery_->commit()) {
    journal_failed_ = true;
    if (report_.error.empty())
      report_.error = "the journal could not be written (see the log); nothing was released";
    return false;
  }
  std::unordered_set<MessageIndex> busy;
  if (delivery_ != nullptr) {
    (void)delivery_->withdraw_waiting([&busy](MessageIndex m, std::string_view, bool in_flight) {
      if (in_flight) busy.insert(m);
      return false;
    });
  }

  const MessageTable& messages = scheduler_.messages();
  std::vector<MessageIndex> leaving;  // released, or their held file is gone
  std::vector<MessageId> records;     // journal records to remove
  std::vector<RecipientIndex> finished;
  const std::size_t end = std::min(picked_.size(), next_ + max_messages);
  for (std::size_t looked = 0; next_ < end; ++next_, ++looked) {
    if (looked > 0 && out_of_time && out_of_time()) break;
    const auto [m, id] = picked_[next_];
    // Finished and removed by delivery since the request started: nothing left to release.
    if (!messages.contains(m) || messages[m].id() != id) continue;
    if (busy.contains(m)) {
      ++report_.busy;
      continue;
    }
    const MessageRecord& record = messages[m];
    const std::string queue_id(record.spool().queue_id);
    finished.clear();
    for (RecipientIndex r = 0; r < record.recipient_count(); ++r) {
      if (record.finished(r)) finished.push_back(r);
    }
    // 2. Finished recipients marked done in the file, then the file leaves hold.
    const SpoolReleaseResult released = spool_.release(queue_id, finished);
    if (!released.ok()) {
      fail(released.error);
      log(LogLevel::error, queue_id + ": not released: " + released.error);
      if (released.gone) {
        leaving.push_back(m);
        records.push_back(id);
      }
      continue;
    }
    if (!released.warning.empty()) log(LogLevel::warning, queue_id + ": " + released.warning);
    log(LogLevel::info, queue_id + ": released to the MTA by an administrator: " +
                            std::to_string(released.recipients) + " recipient(s) to deliver, " +
                            std::to_string(finished.size()) + " already finished by bulkq");
    ++report_.released;
    report_.recipients += released.recipients;
    if (report_.queue_ids.size() < kReleaseReplyQueueIds) report_.queue_ids.push_back(queue_id);
    leaving.push_back(m);
    records.push_back(id);
  }
  if (leaving.empty()) return next_ >= picked_.size();

  // 3. Their records go in one transaction. If it fails, the records stay; their held files
  // are gone, so startup recovery drops them.
  if (hooks_.before_journal_batch) hooks_.before_journal_batch();
  JournalStatus status = journal_.begin_batch();
  for (std::size_t i = 0; status.ok() && i < records.size(); ++i)
    status = journal_.remove(records[i]);
  if (status.ok()) {
    status = journal_.commit_batch();
  } else {
    journal_.abort_batch();
  }
  if (!status.ok()) {
    log(LogLevel::error, "journal: " + status.error +
                             " (the released messages' records are dropped at the next start)");
  }

  // 4. Forgotten in memory: retry waits, queue nodes, records.
  std::sort(leaving.begin(), leaving.end());
  if (delivery_ != nullptr) {
    (void)delivery_->withdraw_waiting([&leaving](MessageIndex m, std::string_view, bool) {
      return std::binary_search(leaving.begin(), leaving.end(), m);
    });
  }
  for (const MessageIndex m : leaving) {
    if (hooks_.on_removed) hooks_.on_removed(messages[m].heap_bytes());
  }
  (void)scheduler_.withdraw(leaving);
  return next_ >= picked_.size();
}

ReleaseReport MessageRelease::report() const {
  ReleaseReport report = report_;
  report.remaining = picked_.size() - std::min(next_, picked_.size());
  return report;
}

}  // namespace bulkq
