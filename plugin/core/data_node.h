// DataNode: one recipient of one held message, waiting in its domain's queue.
//
// The unit the scheduler moves around, so it is kept to 12 bytes: a million queued recipients
// cost 12 MB of nodes. It names the message by its MessageTable index and the recipient by its
// position in that message; which queue it sits in says its domain.
#pragma once

#include <cstdint>

namespace bulkq {

using MessageIndex = std::uint32_t;  // slot in the MessageTable (reused after the message leaves)

struct DataNode {
  MessageIndex message = 0;
  std::uint32_t recipient : 24 = 0;  // RecipientIndex; kMaxRecipientsPerMessage fits
  std::uint32_t attempts : 8 = 0;    // delivery attempts of this recipient, saturating at 255
  std::uint32_t enqueued = 0;        // unix seconds when first queued; kept across retries
};
static_assert(sizeof(DataNode) <= 16, "a data node must stay within 16 bytes");

}  // namespace bulkq
