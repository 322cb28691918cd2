// Batch: recipients of one domain taken together for one SMTP connection, grouped by message so
// each group becomes one transaction (MAIL, RCPT × k, DATA).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/data_node.h"
#include "core/message_record.h"

namespace bulkq {

struct BatchRecipient {
  MessageIndex message = 0;
  RecipientIndex recipient = 0;
  std::uint8_t attempts = 0;   // attempts before this batch
  std::uint32_t enqueued = 0;  // unix seconds when first queued
};

class DomainQueue;

class Batch {
 public:
  std::string domain;
  DomainQueue* queue = nullptr;  // the queue it came from; alive while the batch is in flight
  std::vector<BatchRecipient> recipients;   // grouped by message, groups in queue order
  std::vector<std::uint32_t> group_starts;  // group g starts at recipients[group_starts[g]]

  [[nodiscard]] bool empty() const { return recipients.empty(); }
  [[nodiscard]] std::size_t message_count() const { return group_starts.size(); }
  [[nodiscard]] std::span<const BatchRecipient> message_group(std::size_t g) const {
    const std::size_t begin = group_starts[g];
    const std::size_t end = g + 1 < group_starts.size() ? group_starts[g + 1] : recipients.size();
    return std::span<const BatchRecipient>(recipients).subspan(begin, end - begin);
  }
  void clear() {
    domain.clear();
    queue = nullptr;
    recipients.clear();
    group_starts.clear();
  }
};

}  // namespace bulkq
