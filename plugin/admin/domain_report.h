// Replies of the admin commands that look into the scheduler thread's state: `queues`,
// `domain D`, `pause`/`resume`/`flush` and `metrics`.
//
// Pure: the scheduler thread gathers the figures (QueueMap, DeliveryEngine, DNS cache) into the
// plain structs below and these functions turn them into one reply line (JSON, no '\n') or
// Prometheus text; nothing here touches a socket or a clock. Any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_request.h"
#include "admin/engine_status.h"
#include "core/clock.h"
#include "core/message_table.h"
#include "core/queue_map.h"

namespace bulkq {

// Largest first; the order `queues` lists them in.
// One domain queue as `queues` shows it.
struct QueueRow {
  std::string domain;
  std::uint64_t waiting = 0;    // recipients queued
  std::uint64_t in_flight = 0;  // recipients out in batches
  std::int64_t age_seconds = 0;
  std::int64_t oldest_seconds = 0;   // how long the head recipient has waited
  std::int64_t backoff_seconds = 0;  // until the next attempt may start; 0 = none
  bool paused = false;
  double rate = 0;  // recipients delivered per second, lately (DeliveryEngine::recent_rate)
  friend bool operator==(const QueueRow&, const QueueRow&) = default;
};

[[nodiscard]] QueueRow queue_row(const DomainQueue& queue, TimePoint now);

// The queue rows of every queue (or the first `top`, when not 0), in `order`, ties by name.
[[nodiscard]] std::vector<QueueRow> queue_rows(
    const QueueMap& queues, TimePoint now, std::uint32_t top, QueueOrder order,
    const std::function<double(std::string_view domain)>& rate_of = {});
// {"ok":true,"queues":N,"shown":[…rows…]}
[[nodiscard]] std::string queues_reply_json(const std::vector<QueueRow>& rows,
                                            std::uint64_t total_queues);

// One message with recipients waiting in a domain's queue, as `messages D` shows it.
struct MessageRow {
  std::string queue_id;  // the MTA's
  std::uint64_t id = 0;  // bulkq's
  std::string sender;
  std::uint64_t recipients = 0;      // of this domain, waiting
  std::uint64_t attempts = 0;        // the most any of them has had
  std::int64_t waiting_seconds = 0;  // since its first recipient here was queued
  friend bool operator==(const MessageRow&, const MessageRow&) = default;
};

// `messages D` shows this many per page.
inline constexpr std::uint32_t kMessagesPerPage = 50;

// The messages waiting in `queue`, in queue order (by their first waiting recipient).
[[nodiscard]] std::vector<MessageRow> queued_messages(const DomainQueue& queue,
                                                      const MessageTable& messages, TimePoint now);
// {"ok":true,"domain":"…","messages":M,"page":P,"pages":N,"shown":[…]}: page `page` (1-based,
// 0 = 1) of `rows`, kMessagesPerPage each; a page past the last shows none.
[[nodiscard]] std::string messages_reply_json(std::string_view domain,
                                              const std::vector<MessageRow>& rows,
                                              std::uint32_t page);

struct DomainDnsHost {
  std::string name;
  std::uint16_t preference = 0;
  std::vector<std::string> addresses;
};

// Everything `domain D` shows.
// A destination's shaping (`domain D`), once the domain was sent to.
struct DomainShapingReport {
  std::string destination;  // "example.com", or "mx:HOST,HOST" when MX rollup shares it
  std::string policy;       // the [shaping.domain] pattern; empty: the defaults
  bool adaptive = false;
  std::string state;  // probing, steady, backing_off, suspended
  std::uint32_t sessions = 0;
  std::uint32_t members = 0;  // domains known to share the destination
  std::uint32_t concurrency = 0;
  std::uint32_t max_connections = 0;
  std::optional<double> rate;  // messages per second; none = unlimited
  std::optional<double> max_rate;
  double deferred_share = 0;  // 4xx share of the current window
  std::uint32_t window_transactions = 0;
  std::int64_t mean_latency_ms = 0;
  std::int64_t suspended_seconds = -1;  // left of a suspension; -1: none
  std::uint64_t decreases = 0;
  std::uint64_t increases = 0;
};

struct DomainReport {
  std::string domain;
  std::optional<QueueRow> queue;  // none: no mail waits for it now
  bool paused = false;            // paused by an administrator (with or without a queue)
  std::uint32_t sessions_open = 0;
  std::uint64_t waiting_retry = 0;
  std::int64_t next_retry_seconds = -1;  // -1: none waits
  std::uint32_t consecutive_failures = 0;
  std::vector<std::string> last_replies;  // newest last
  // DNS: "fresh", "stale", "missing", or "relay" (relay mode: no MX lookups).
  std::string dns_state = "missing";
  std::string dns_status;  // route, permanent_failure, temporary_failure
  std::string dns_reason;
  std::int64_t dns_age_seconds = -1;
  std::int64_t dns_expires_in_seconds = 0;
  std::vector<DomainDnsHost> dns_hosts;
  std::optional<DomainShapingReport> shaping;
};

[[nodiscard]] std::string domain_reply_json(const DomainReport& report);
// {"ok":true,"domain":"…","dns":{…}}: the DNS part of the report alone (`dns D`).
[[nodiscard]] std::string dns_reply_json(const DomainReport& report);

// {"ok":true,"message":"…"} for commands that change something.
[[nodiscard]] std::string done_reply_json(std::string_view message);

// Prometheus text exposition format (version 0.0.4): the engine's figures as counters and
// gauges, and per-domain gauges for the queues in `top` only (a bounded series count).
[[nodiscard]] std::string metrics_text(const EngineStatus& status,
                                       const std::vector<QueueRow>& top);
// {"ok":true,"metrics":"<the text>"}
[[nodiscard]] std::string metrics_reply_json(std::string_view text);

}  // namespace bulkq
