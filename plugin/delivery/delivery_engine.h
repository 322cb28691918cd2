// DeliveryEngine: the batch sender — takes domain batches from the Scheduler, sends each over one
// SMTP session, and applies every recipient's outcome: journal bits, spool removal, retries,
// domain backoff, DSNs, Postfix-shaped log lines and the accounting log.
//
// Thread: the scheduler thread, which also runs the event loop the sessions and DNS lookups live
// on; every callback (route answers, session results) arrives on it. The engine touches sockets
// only through its seams — DeliveryRoutes (DNS or the relay), StartSession (SmtpSession on Asio),
// BounceSender (the MTA's sendmail), SpoolAdapter, Journal — so unit tests drive it with fakes and
// a FakeClock.
//
// A batch's life: next_batch → route (cache answer, or a wait on DNS) → one session carrying the
// batch's messages (content streamed from the held files) → per-recipient outcomes:
//   - 2xx: finished. The bits of one session (or, with group_commit, of every session that ended
//     within one event-loop round) are committed in one journal transaction, then the held files
//     of finished messages are removed, then their records (so a crash in between
//     leaves a record whose file is gone, which recovery drops, never a marked file without a
//     record, which recovery would adopt and send again);
//   - 4xx for a recipient: deferred, refiled after its own backoff (exponential, jittered);
//   - 421, refused/lost connections, timeouts, DNS failures: back to the head of the queue and
//     the domain backs off;
//   - 5xx, NXDOMAIN, null MX, or past max_lifetime: a DSN to the sender through the MTA, then
//     finished. A DSN that cannot be handed over leaves the recipient deferred (tried again).
// Duplicates after a crash are bounded by the sessions in flight (and, with group_commit, those
// that ended within the last round, whose bits were not committed yet).
//
// Connections are reused: a session whose batch ended cleanly stays open, idle, for
// connection_idle_time, and the next batch whose route includes that server (address, port and
// TLS policy: as Postfix's connection cache looks up by address) goes over it instead of a new
// connection — the same domain's, or another's hosted on the same MX — until
// max_messages_per_connection messages or connection_reuse_time. max_connections caps the
// sessions carrying a batch; at most max_idle_connections more wait idle (the one idle longest is
// closed to make room), as Postfix's process limit and connection cache are separate.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/scheduler.h"
#include "delivery/delivery_log_line.h"
#include "delivery/delivery_outcome.h"
#include "delivery/destination_policy.h"
#include "delivery/retry_schedule.h"
#include "delivery/smtp_session.h"
#include "journal/journal.h"
#include "shaping/domain_shaper.h"
#include "shaping/response_rules.h"
#include "spool/spool_adapter.h"

namespace bulkq {

// Where one destination's batch goes.
struct RouteAnswer {
  enum class Kind : std::uint8_t { route, permanent_failure, temporary_failure };
  Kind kind = Kind::temporary_failure;
  std::vector<SmtpEndpoint> endpoints;      // route: in the order to try
  std::vector<std::string> endpoint_hosts;  // the host name of each endpoint, for the log
  std::string reason;                       // failures: why (log line, DSN)
  bool null_mx = false;                     // permanent: the domain publishes a null MX
};

// The seam to DNS (direct mode) or to the relay host (relay mode).
class DeliveryRoutes {
 public:
  virtual ~DeliveryRoutes() = default;
  // Calls `done` once with where `domain`'s mail goes: at once when it is known, later when a
  // lookup has to be made (the batch then waits on DNS).
  virtual void route(std::string_view domain, TimePoint now,
                     std::function<void(RouteAnswer)> done) = 0;
  // The scheduler will soon serve these domains: look them up ahead if needed.
  virtual void prefetch(std::span<const std::string_view> domains, TimePoint now) = 0;
};

// Hands a DSN to the MTA for delivery to `recipient` (the original sender). Empty on success.
class BounceSender {
 public:
  virtual ~BounceSender() = default;
  [[nodiscard]] virtual std::string submit(std::string_view recipient,
                                           const std::vector<std::string>& lines) = 0;
};

using StartSession =
    std::function<void(SmtpSessionRequest, std::function<void(SmtpSessionResult)>)>;

struct DeliveryEngineOptions {
  std::string helo_name = "localhost";
  std::string reporting_host = "localhost";  // DSN From/Reporting-MTA
  std::uint32_t max_connections = 32;
  // Sessions to one domain at once; beyond the first, only while a full batch waits for it.
  std::uint32_t max_connections_per_domain = 8;
  std::uint32_t max_messages_per_connection = 1000;
  // How long a connection waits, idle, for its domain's next batch (0: closed after each batch),
  // and the age after which it carries no further batch.
  std::chrono::milliseconds connection_idle_time{std::chrono::seconds(10)};
  std::chrono::seconds connection_reuse_time{300};
  std::uint32_t max_idle_connections = 256;
  TlsPolicy tls = TlsPolicy::opportunistic;
  std::map<std::string, TlsPolicy, std::less<>> tls_by_domain;
  RetryPolicy retry;
  SmtpTimeouts timeouts;
  std::uint32_t prefetch_queues = 16;
  std::uint64_t random_seed = 1;
  // false: every session's outcomes are committed when it ends. true: they wait for commit(),
  // which the event loop calls once per round, so sessions ending together share one fsync.
  bool group_commit = false;

  // Shaping. A destination is one connection budget with its own DomainShaper: a domain, or
  // with mx_rollup the domains (of one policy) whose MX hosts (the route's host names) are the
  // same. The default policy: `shaping` with max_connections = max_connections_per_domain, and
  // max_messages_per_connection, retry and tls above; destination_policies override it by domain
  // pattern. adaptive = false keeps every destination at its static limits (bulkqd's
  // configuration turns it on).
  ShapingLimits shaping;
  bool adaptive = false;
  bool mx_rollup = false;
  std::vector<DestinationPolicy> destination_policies;
  ResponseRules response_rules;
};

// One destination's shaping, for `bulkqctl domain`.
struct DestinationState {
  std::string name;    // "example.com", or "mx:mx1.example.net,mx2.example.net" (rollup)
  std::string policy;  // the [shaping.domain] pattern, or "" for the default
  bool adaptive = false;
  std::uint32_t sessions = 0;
  std::uint32_t members = 0;  // domains known to send through it
  std::uint32_t concurrency = 0;
  std::uint32_t max_connections = 0;
  std::optional<double> max_rate;
  ShapingSnapshot shaping;
};

// One destination's delivery state, for `bulkqctl domain`.
struct DeliveryDomainState {
  std::uint32_t sessions_open = 0;
  std::uint64_t waiting_retry = 0;              // recipients waiting out their own retry delay
  TimePoint next_retry = TimePoint::max();      // the first of them due
  std::uint32_t consecutive_failures = 0;       // domain-level failures in a row (backoff)
  std::vector<std::string> last_replies;        // newest last: "time outcome reply"
  std::optional<DestinationState> destination;  // once the domain was sent to
};

struct DeliveryCounters {
  std::uint64_t sessions_open = 0;
  std::uint64_t connections = 0;       // connections opened that reached a server
  std::uint64_t connections_idle = 0;  // kept open now, waiting for a batch
  std::uint64_t batches_reused = 0;    // batches sent over a connection kept open
  std::uint64_t transactions = 0;      // DATA transactions with a final reply
  std::uint64_t sent = 0;              // recipients
  std::uint64_t deferred = 0;          // recipient attempts that failed temporarily
  std::uint64_t bounced = 0;           // recipients bounced (DSN handed to the MTA, or none due)
  std::uint64_t expired = 0;           // of which past the maximum queue lifetime
  std::uint64_t dsn_sent = 0;          // DSN messages handed to the MTA
  std::uint64_t dsn_failed = 0;        // DSN hand-overs that failed (tried again later)
  std::uint64_t dropped = 0;           // recipients whose held file was gone
  std::uint64_t domain_backoffs = 0;
  std::uint64_t waiting_retry = 0;  // recipients waiting for their retry time now
  // Shaping.
  std::uint64_t destinations = 0;              // destinations known now
  std::uint64_t destinations_backing_off = 0;  // whose last decision was a decrease
  std::uint64_t destinations_suspended = 0;    // stopped by a response rule now
  std::uint64_t rate_deferrals = 0;     // batches put back: the destination's rate or suspension
  std::uint64_t concurrency_holds = 0;  // batches put back: the destination's sessions all busy
  std::uint64_t shaping_decreases = 0;  // decisions that slowed a destination down
  std::uint64_t rule_matches = 0;       // replies a response rule matched
};

// One line for the delivery log (Postfix-shaped) at a level; the accounting log gets a session's
// lines (each ending in '\n') in one call.
using DeliveryLog = std::function<void(LogLevel, std::string_view)>;
using AccountingSink = std::function<void(std::string_view)>;

class DeliveryEngine {
 public:
  DeliveryEngine(const Clock& clock, Scheduler& scheduler, Journal& journal, SpoolAdapter& spool,
                 DeliveryRoutes& routes, StartSession start_session, BounceSender& bounces,
                 DeliveryEngineOptions options, DeliveryLog log, AccountingSink accounting);
  ~DeliveryEngine();
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Refiles recipients whose retry time came, starts batches while sessions are free, and asks
  // for the next queues' DNS ahead. True if it started a batch.
  bool pump();

  // Makes the finished bits of ended sessions durable (one journal transaction with the record
  // removals still due), then removes the held files of finished messages; their records go in
  // the next commit. With group_commit the event loop calls it every round; otherwise each
  // session's end does. False if the journal could not be written (all stays pending).
  bool commit();
  [[nodiscard]] bool commit_pending() const {
    return !pending_bits_.empty() || !awaiting_removal_.empty() ||
           !pending_record_removals_.empty();
  }

  // Stops starting batches (bulkqd is stopping) and closes the idle connections; sessions in
  // flight finish normally.
  void stop_starting();

  // Called with the record bytes of each message removed (the intake's memory estimate).
  void on_message_removed(std::function<void(std::uint64_t heap_bytes)> callback) {
    on_removed_ = std::move(callback);
  }

  // Called before each journal batch the engine begins: the intake's group commit must be
  // committed first (one batch is open at a time).
  void before_journal_batch(std::function<void()> callback) {
    before_journal_batch_ = std::move(callback);
  }

  // bulkqctl flush: the recipients of `domain` (every domain when empty) waiting out a retry
  // delay are queued again now, and its backoff ends. Returns the recipients requeued.
  std::uint64_t flush(std::string_view domain);

  // bulkqctl reload / SIGHUP: new limits, TLS policies, retry schedules, timeouts, connection
  // reuse and shaping settings (helo_name, reporting_host, group_commit and the random seed stay).
  // Every destination starts learning afresh; sessions in flight finish as they are, and
  // recipients waiting out a retry delay keep the time they were given.
  void reconfigure(DeliveryEngineOptions options);

  [[nodiscard]] DeliveryDomainState domain_state(std::string_view domain) const;

  // bulkqctl release: calls `visit` first for each message a session in flight carries (in_flight
  // true; the answer is ignored, those stay), then for each message with recipients waiting out a
  // retry delay, with their domain (in_flight false); the waiting recipients of the messages it
  // answers true for are dropped. Returns the recipients dropped.
  std::uint64_t withdraw_waiting(
      const std::function<bool(MessageIndex message, std::string_view domain, bool in_flight)>&
          visit);

  // Recipients delivered to `domain` per second lately: an exponentially decaying average with a
  // one-minute time constant (0 for a domain not delivered to lately). For `queues --sort rate`.
  [[nodiscard]] double recent_rate(std::string_view domain, TimePoint now) const;

  // The earliest time a recipient waiting out its retry delay or a backing-off queue becomes
  // due, or TimePoint::max() when none waits.
  [[nodiscard]] TimePoint next_due() const;

  [[nodiscard]] std::size_t sessions_open() const { return flights_.size(); }
  [[nodiscard]] DeliveryCounters counters() const;

 private:
  struct Flight;
  struct Waiting {
    std::string domain;
    std::vector<BatchRecipient> recipients;
  };
  // A connection kept open after its batch, waiting for another to its server.
  struct IdleConnection {
    std::shared_ptr<SmtpConnection> connection;
    SmtpEndpoint endpoint;
    TlsPolicy tls = TlsPolicy::opportunistic;
    std::size_t messages_used = 0;  // messages attempted over it so far
    TimePoint opened{};
    TimePoint idle_since{};
  };
  struct RecipientResult {
    DeliveryOutcome outcome;
    std::string relay_host;
    std::string relay_address;
    std::uint16_t relay_port = 0;
    std::uint32_t connection_use = 0;
    bool dropped = false;        // the held file is gone: finished without a delivery
    bool not_attempted = false;  // beyond the connection's message limit: simply requeued
  };

  // One connection budget and its controller (see DeliveryEngineOptions::shaping).
  struct Destination {
    std::string key;  // "POLICY|NAME"
    std::size_t policy = 0;
    DomainShaper shaper;
    std::uint32_t sessions = 0;
    std::vector<std::string> held;  // domains held out (destination_busy) until a session ends
    TimePoint last_used{};
    std::uint64_t decreases_seen = 0;  // the shaper's count when it was last logged
  };

  // False when the batch went straight back to its queue (its destination busy or waiting).
  bool start_batch(Batch&& batch, TimePoint now);
  void build_policies();
  // Shaping: the destination `route` makes `domain` part of (with MX rollup, the one of its MX
  // host set; else the domain's own), created on first use; remembered as the domain's.
  Destination& destination_for(const std::string& domain, const RouteAnswer& route, TimePoint now);
  // The destination the domain's last route showed, if any.
  [[nodiscard]] Destination* known_destination(const std::string& domain);
  [[nodiscard]] Destination* find_destination(const std::string& key);
  // The sessions a domain not routed yet may open: its policy's first concurrency.
  [[nodiscard]] std::uint32_t first_concurrency(std::string_view domain) const;
  [[nodiscard]] std::uint32_t concurrency_of(const Destination& destination) const;
  // May `domain` start a batch to `destination` now? If not, its queue is held (sessions all
  // busy) or deferred (rate, suspension) and false returned.
  bool admit(Destination& destination, const std::string& domain, TimePoint now);
  void hold_for_destination(Destination& destination, const std::string& domain, TimePoint now);
  // A session to `destination` ended: domains held for its budget may run again.
  void release_destination(Destination& destination, TimePoint now);
  // Puts a batch back untouched (no attempt counted).
  void hand_back(const Batch& batch);
  // What the session's replies say about the destination's speed.
  void feed_shaper(const Flight& flight, const SmtpSessionResult& result, TimePoint now);
  void forget_idle_destinations(TimePoint now);
  [[nodiscard]] const DestinationPolicy& policy_for(std::string_view domain) const {
    return policies_[policies_.find(domain)];
  }
  [[nodiscard]] const RetrySchedule& schedule_for(std::string_view domain) const {
    return schedules_[policies_.find(domain)];
  }
  void on_route(std::uint64_t flight_id, RouteAnswer answer);
  // Builds the flight's messages and sends them over its kept connection or a new session.
  void send_flight(Flight& flight);
  // An idle connection to one of `route`'s endpoints (the first in its order that has one) and
  // that endpoint's index, when one is still open.
  std::optional<std::pair<std::size_t, IdleConnection>> take_idle(const RouteAnswer& route,
                                                                  TlsPolicy tls);
  void keep_idle(IdleConnection idle);
  void sweep_idle();
  void close_longest_idle();
  void on_session_done(std::uint64_t flight_id, SmtpSessionResult result);
  // Applies every recipient's result of a flight and retires it.
  void finish(Flight& flight, std::vector<RecipientResult>& results);
  void send_bounces(Flight& flight, std::vector<RecipientResult>& results,
                    std::vector<RecipientOutcome>& outcomes);
  void log_result(const Flight& flight, const BatchRecipient& recipient,
                  const RecipientResult& result, LogStatus status);
  bool write_journal();
  void release_connection(const std::string& domain);
  void refile_due(TimePoint now);
  void prefetch_next(TimePoint now);
  [[nodiscard]] TlsPolicy tls_for(std::string_view domain) const;
  void log(LogLevel level, std::string_view text) const {
    if (log_) log_(level, text);
  }

  const Clock& clock_;
  Scheduler& scheduler_;
  Journal& journal_;
  SpoolAdapter& spool_;
  DeliveryRoutes& routes_;
  StartSession start_session_;
  BounceSender& bounces_;
  DeliveryEngineOptions options_;
  DeliveryLog log_;
  AccountingSink accounting_;
  std::function<void(std::uint64_t)> on_removed_;
  std::function<void()> before_journal_batch_;
  RetryRandom random_;
  bool starting_ = true;

  std::uint64_t next_flight_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Flight>> flights_;
  std::unordered_map<std::string, std::uint32_t> domain_sessions_;
  // By server: "address port tls".
  std::unordered_map<std::string, std::vector<IdleConnection>> idle_;
  std::size_t idle_count_ = 0;
  std::unordered_map<std::string, DomainBackoff> backoff_;
  // Per domain, bounded (see history_for): the last few distinct outcomes, and a decaying count
  // of recipients delivered (recent_rate).
  struct DomainHistory {
    std::vector<std::string> replies;
    double delivered_rate = 0;  // recipients per second as of rate_at
    TimePoint rate_at{};
  };
  std::unordered_map<std::string, DomainHistory> history_;
  DomainHistory& history_for(const std::string& domain);
  void note_reply(const std::string& domain, std::string line);
  std::multimap<TimePoint, Waiting> waiting_;
  std::uint64_t waiting_count_ = 0;
  DeliveryCounters counters_;
  DestinationPolicies policies_;
  std::vector<RetrySchedule> schedules_;  // by policy
  std::unordered_map<std::string, Destination> destinations_;
  std::unordered_map<std::string, std::string> destination_of_;  // domain → destination key
  TimePoint next_destination_sweep_{};
  std::vector<const DomainQueue*> next_queues_;  // scratch for prefetch
  std::string accounting_buffer_;                // this session's accounting lines
  struct PendingBits {
    MessageId id = 0;
    std::vector<RecipientIndex> recipients;
  };
  std::vector<PendingBits> pending_bits_;           // finished recipients not yet committed
  std::vector<MessageIndex> awaiting_removal_;      // finished messages: files go after the bits
  std::vector<MessageId> pending_record_removals_;  // files gone: records go in the next commit
};

}  // namespace bulkq
