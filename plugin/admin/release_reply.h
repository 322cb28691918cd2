// The reply of `bulkqctl release DOMAIN | release --all`: what one request did.
//
// Pure; any thread. The scheduler thread fills a ReleaseReport (plugin/delivery/message_release.h)
// and turns it into one reply line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulkq {

// At most this many queue ids are listed in a reply.
inline constexpr std::size_t kReleaseReplyQueueIds = 100;

struct ReleaseReport {
  std::uint64_t released = 0;    // messages handed back to the MTA
  std::uint64_t recipients = 0;  // their recipients the MTA will deliver (not finished)
  std::uint64_t busy = 0;        // messages in a session right now: not released, run again
  std::uint64_t failed = 0;      // messages that could not be released (left as they were)
  std::uint64_t remaining = 0;   // messages not looked at: the request's time was up, run again
  std::string error;             // the first failure, or empty
  std::vector<std::string> queue_ids;  // the first kReleaseReplyQueueIds released
  friend bool operator==(const ReleaseReport&, const ReleaseReport&) = default;
};

// {"ok":true,"released":N,"recipients":R,"busy":B,"failed":F,"remaining":M,"error":"…",
//  "queue_ids":["…",…]}
[[nodiscard]] std::string release_reply_json(const ReleaseReport& report);

}  // namespace bulkq
