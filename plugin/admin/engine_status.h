// EngineStatus: the figures `bulkqctl status` shows, as one plain value.
//
// The scheduler thread fills one in and publishes a copy (StatusBoard); the admin server's thread
// reads the latest copy when a `status` request arrives. Neither waits for the other for long:
// publishing and reading copy this struct under a mutex that nothing else takes.
#pragma once

#include <cstdint>
#include <string>

namespace bulkq {

struct FailOpenCounts {
  std::uint64_t journal = 0;  // the journal was not writable
  std::uint64_t memory = 0;   // intake.memory_limit reached
  std::uint64_t handoff = 0;  // the handoff to the scheduler was full
  std::uint64_t spool = 0;    // the message could not be diverted (no queue id, milter error)
  std::uint64_t quota = 0;    // past a volume limit (quota.action = fail_open)
  [[nodiscard]] std::uint64_t total() const { return journal + memory + handoff + spool + quota; }
  friend bool operator==(const FailOpenCounts&, const FailOpenCounts&) = default;
};

// Delivery and DNS figures (zero while delivery is off).
struct DeliveryStatus {
  bool enabled = false;
  std::uint64_t sessions_open = 0;
  std::uint64_t connections_idle = 0;  // kept open for their domain's next batch
  std::uint64_t waiting_retry = 0;     // recipients waiting out their own retry delay
  std::uint64_t connections = 0;       // totals since start from here on
  std::uint64_t batches_reused = 0;    // batches sent over a connection kept open
  std::uint64_t transactions = 0;
  std::uint64_t sent = 0;
  std::uint64_t deferred = 0;
  std::uint64_t bounced = 0;
  std::uint64_t expired = 0;
  std::uint64_t dsn_sent = 0;
  std::uint64_t dsn_failed = 0;
  std::uint64_t dropped = 0;
  std::uint64_t domain_backoffs = 0;
  // DNS: the offline cache.
  std::uint64_t dns_cache_entries = 0;
  std::uint64_t dns_lookups_in_flight = 0;
  std::uint64_t dns_hits = 0;
  std::uint64_t dns_misses = 0;
  std::uint64_t dns_stale_served = 0;
  std::uint64_t batches_waited_on_dns = 0;
  // Shaping.
  std::uint64_t destinations = 0;  // destinations known now (a domain, or MX rollup's shared one)
  std::uint64_t destinations_backing_off = 0;  // whose controller last slowed them down
  std::uint64_t destinations_suspended = 0;    // stopped by a response rule now
  std::uint64_t rate_deferrals = 0;     // batches put back for a destination's rate or suspension
  std::uint64_t concurrency_holds = 0;  // batches put back: the destination's connections all busy
  std::uint64_t shaping_decreases = 0;  // decisions that slowed a destination down
  std::uint64_t rule_matches = 0;       // replies a response rule matched
  friend bool operator==(const DeliveryStatus&, const DeliveryStatus&) = default;
};

// The volume counter ([quota]): this period's counts against its limits (0 = none).
struct VolumeStatus {
  std::string period;  // "2026-11-29" (day), "2026-11" (month), "2026-11-29T19" (hour), UTC
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::uint64_t messages_limit = 0;
  std::uint64_t recipients_limit = 0;
  std::uint64_t sender_domains = 0;  // sender domains counted this period
  std::string action;                // past a limit: fail_open or tempfail
  std::uint64_t tempfailed = 0;      // bulk messages refused past a limit, since start
  friend bool operator==(const VolumeStatus&, const VolumeStatus&) = default;
};

struct EngineStatus {
  std::string version;
  std::int64_t started_unix = 0;  // seconds since the Unix epoch
  std::uint64_t uptime_seconds = 0;
  // Held and committed by the MTA: in the queue map.
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;  // recipients not yet finished
  std::uint64_t domains = 0;     // domain queues that exist now
  // Diverted at end-of-message, the MTA's held file not seen yet.
  std::uint64_t pending_commit = 0;
  // Totals since start.
  std::uint64_t diverted_total = 0;        // bulk messages taken over
  std::uint64_t passed_total = 0;          // not bulk: left to the MTA untouched
  std::uint64_t commit_expired_total = 0;  // diverted but never committed by the MTA
  FailOpenCounts fail_open;                // bulk messages let through to the MTA, by reason
  // Engine health.
  bool journal_ok = true;
  std::string journal_error;       // the last journal failure while !journal_ok
  std::uint64_t memory_bytes = 0;  // estimated engine memory (records + nodes)
  std::uint64_t memory_limit_bytes = 0;
  // Startup recovery.
  std::uint64_t recovered_messages = 0;  // rebuilt from the journal
  std::uint64_t adopted_messages = 0;    // held files with bulkq's marker and no record
  std::uint64_t dropped_records = 0;     // records whose held file was gone
  DeliveryStatus delivery;
  VolumeStatus volume;

  friend bool operator==(const EngineStatus&, const EngineStatus&) = default;
};

}  // namespace bulkq
