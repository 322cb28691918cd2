#include "delivery/delivery_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "delivery/delivery_log_line.h"
#include "delivery/dsn_message.h"

namespace bulkq {

namespace {

// Batches one pump() may put back (a destination busy or out of tokens) before it yields.
constexpr std::size_t kMaxHandBacksPerPump = 1024;

// How much content one call into the spool reader passes on: about one write buffer.
constexpr std::size_t kContentChunkBytes = 64 * 1024;

std::string relay_text(const std::string& host, const std::string& address, std::uint16_t port) {
  if (address.empty()) return {};
  return (host.empty() ? address : host) + "[" + address + "]:" + std::to_string(port);
}

// "550 5.1.1 text" as the DSN's Diagnostic-Code wants it.
std::string diagnostic_of(const SmtpVerdict& verdict) {
  if (verdict.transport || verdict.reply.code == 0) return {};
  const DsnStatus status = dsn_status(verdict.reply);
  return std::to_string(verdict.reply.code) + " " + status.to_string() + " " + verdict.reply.text;
}

TimePoint arrival_of(const MessageRecord& record) {
  return record.arrived();
}

}  // namespace

struct DeliveryEngine::Flight {
  std::uint64_t id = 0;
  Batch batch;
  TimePoint started{};
  RouteAnswer route;
  // Results decided before any session (already done, file gone, unreadable): by batch index.
  std::vector<RecipientResult> results;
  std::vector<bool> decided;
  // Per request message: its batch group and, per request recipient, the batch index.
  std::vector<std::size_t> request_groups;
  std::vector<std::vector<std::size_t>> request_recipients;
  std::vector<std::string> diagnostics;  // by batch index: the server's reply for a DSN
  // Set when the batch goes over a connection kept open from an earlier one, to the route's
  // endpoint `kept_endpoint`.
  std::shared_ptr<SmtpConnection> kept;
  std::size_t kept_endpoint = 0;
  std::size_t connection_messages = 0;  // messages the connection carried before this batch
  TimePoint connection_opened{};
  std::string destination;    // the Destination key its session is counted against
  TimePoint sent_at{};        // when its messages went to a session (latency)
  bool rate_limited = false;  // messages were left for later: the destination's rate
};

DeliveryEngine::DeliveryEngine(const Clock& clock, Scheduler& scheduler, Journal& journal,
                               SpoolAdapter& spool, DeliveryRoutes& routes,
                               StartSession start_session, BounceSender& bounces,
                               DeliveryEngineOptions options, DeliveryLog log,
                               AccountingSink accounting)
    : clock_(clock),
      scheduler_(scheduler),
      journal_(journal),
      spool_(spool),
      routes_(routes),
      start_session_(std::move(start_session)),
      bounces_(bounces),
      options_(std::move(options)),
      log_(std::move(log)),
      accounting_(std::move(accounting)),
      random_(options_.random_seed) {
  build_policies();
}

void DeliveryEngine::build_policies() {
  DestinationPolicy fallback;
  fallback.limits = options_.shaping;
  fallback.limits.max_connections = options_.max_connections_per_domain;
  fallback.adaptive = options_.adaptive;
  fallback.max_messages_per_connection = options_.max_messages_per_connection;
  fallback.retry = options_.retry;
  policies_ = DestinationPolicies(std::move(fallback), options_.destination_policies);
  schedules_.clear();
  for (std::size_t i = 0; i < policies_.size(); ++i)
    schedules_.emplace_back(policies_[i].retry);
}

void DeliveryEngine::reconfigure(DeliveryEngineOptions options) {
  options.helo_name = options_.helo_name;
  options.reporting_host = options_.reporting_host;
  options.group_commit = options_.group_commit;
  options.random_seed = options_.random_seed;
  options_ = std::move(options);
  build_policies();
  // The destinations go (their holds released first); sessions in flight count against none.
  const TimePoint now = clock_.now();
  for (auto& [key, destination] : destinations_) {
    for (const std::string& domain : destination.held)
      (void)scheduler_.queues().set_hold(domain, QueueHold::destination_busy, false, now);
  }
  destinations_.clear();
  destination_of_.clear();
  for (auto& [id, flight] : flights_)
    flight->destination.clear();
  // Idle connections past the new limits close as they are next looked at.
  while (idle_count_ > options_.max_idle_connections)
    close_longest_idle();
}

DeliveryEngine::~DeliveryEngine() = default;

bool DeliveryEngine::pump() {
  const TimePoint now = clock_.now();
  refile_due(now);
  if (!starting_) return false;
  sweep_idle();
  forget_idle_destinations(now);
  bool started = false;
  std::size_t handed_back = 0;
  while (flights_.size() < options_.max_connections) {
    Batch batch;
    if (!scheduler_.next_batch(batch)) break;
    // The time now, not the round's: the scheduler selects by the clock as it is, so a queue
    // deferred to a destination's next token must be judged by the same clock when it is back.
    if (start_batch(std::move(batch), clock_.now())) {
      started = true;
    } else if (++handed_back >= kMaxHandBacksPerPump) {
      break;  // each hand-back holds or defers its queue; this only bounds one round's work
    }
  }
  if (started) prefetch_next(now);
  return started;
}

TimePoint DeliveryEngine::next_due() const {
  const TimePoint retry = waiting_.empty() ? TimePoint::max() : waiting_.begin()->first;
  return std::min(retry, scheduler_.queues().earliest_backoff_end());
}

DeliveryCounters DeliveryEngine::counters() const {
  DeliveryCounters c = counters_;
  c.sessions_open = flights_.size();
  c.waiting_retry = waiting_count_;
  c.connections_idle = idle_count_;
  c.destinations = destinations_.size();
  for (const auto& [key, destination] : destinations_) {
    if (destination.shaper.state() == ShapingState::backing_off) ++c.destinations_backing_off;
    if (destination.shaper.state() == ShapingState::suspended) ++c.destinations_suspended;
  }
  return c;
}

namespace {
constexpr std::size_t kRepliesPerDomain = 5;
constexpr std::size_t kDomainsWithReplies = 10000;

std::string utc_stamp(TimePoint t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text, n);
}
}  // namespace

DeliveryEngine::DomainHistory& DeliveryEngine::history_for(const std::string& domain) {
  auto it = history_.find(domain);
  if (it == history_.end()) {
    // A bounded memory: past the cap, an arbitrary domain's history makes room.
    if (history_.size() >= kDomainsWithReplies) history_.erase(history_.begin());
    it = history_.emplace(domain, DomainHistory{}).first;
  }
  return it->second;
}

namespace {
constexpr double kRateTimeConstantSeconds = 60;
double decayed(double rate, TimePoint at, TimePoint now) {
  const double elapsed = std::chrono::duration<double>(now - at).count();
  return elapsed <= 0 ? rate : rate * std::exp(-elapsed / kRateTimeConstantSeconds);
}
}  // namespace

double DeliveryEngine::recent_rate(std::string_view domain, TimePoint now) const {
  const auto it = history_.find(std::string(domain));
  return it == history_.end() ? 0 : decayed(it->second.delivered_rate, it->second.rate_at, now);
}

void DeliveryEngine::note_reply(const std::string& domain, std::string line) {
  std::vector<std::string>& lines = history_for(domain).replies;
  // The same outcome again only moves to the end (its time is the newest).
  const std::string_view what = std::string_view(line).substr(line.find(' ') + 1);
  const auto same = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return std::string_view(l).substr(l.find(' ') + 1) == what;
  });
  if (same != lines.end()) lines.erase(same);
  if (lines.size() >= kRepliesPerDomain) lines.erase(lines.begin());
  lines.push_back(std::move(line));
}

std::uint64_t DeliveryEngine::flush(std::string_view domain) {
  const TimePoint now = clock_.now();
  std::uint64_t moved = 0;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (!domain.empty() && it->second.domain != domain) {
      ++it;
      continue;
    }
    moved += it->second.recipients.size();
    waiting_count_ -= it->second.recipients.size();
    scheduler_.refile(it->second.domain, it->second.recipients);
    it = waiting_.erase(it);
  }
  std::vector<std::string> backing_off;
  scheduler_.queues().for_each_queue([&](const DomainQueue& queue) {
    if (queue.next_attempt() > now && (domain.empty() || queue.domain() == domain))
      backing_off.emplace_back(queue.domain());
  });
  for (const std::string& d : backing_off) {
    (void)scheduler_.queues().defer(d, now, now);
    backoff_.erase(d);
  }
  if (!domain.empty()) backoff_.erase(std::string(domain));
  return moved;
}

DeliveryDomainState DeliveryEngine::domain_state(std::string_view domain) const {
  DeliveryDomainState state;
  const std::string key(domain);
  if (const auto it = domain_sessions_.find(key); it != domain_sessions_.end())
    state.sessions_open = it->second;
  for (const auto& [due, waiting] : waiting_) {
    if (waiting.domain != domain) continue;
    state.waiting_retry += waiting.recipients.size();
    state.next_retry = std::min(state.next_retry, due);
  }
  if (const auto it = backoff_.find(key); it != backoff_.end())
    state.consecutive_failures = it->second.consecutive_failures();
  if (const auto it = history_.find(key); it != history_.end())
    state.last_replies = it->second.replies;
  const auto mapped = destination_of_.find(key);
  if (mapped == destination_of_.end()) return state;
  const auto found = destinations_.find(mapped->second);
  if (found == destinations_.end()) return state;
  const Destination& d = found->second;
  const DestinationPolicy& policy = policies_[d.policy];
  DestinationState view;
  view.name = d.key.substr(d.key.find('|') + 1);
  view.policy = policy.pattern;
  view.adaptive = policy.adaptive;
  view.sessions = d.sessions;
  for (const auto& [member, destination_key] : destination_of_) {
    if (destination_key == d.key) ++view.members;
  }
  view.concurrency = concurrency_of(d);
  view.max_connections = policy.limits.max_connections;
  view.max_rate = policy.limits.max_rate;
  view.shaping = d.shaper.snapshot(clock_.now());
  state.destination = std::move(view);
  return state;
}

void DeliveryEngine::stop_starting() {
  starting_ = false;
  for (auto& [domain, list] : idle_) {
    for (IdleConnection& idle : list)
      idle.connection->close_idle();
  }
  idle_.clear();
  idle_count_ = 0;
}

namespace {
std::string server_key(const SmtpEndpoint& endpoint, TlsPolicy tls) {
  return endpoint.address + " " + std::to_string(endpoint.port) + " " + std::string(to_string(tls));
}
}  // namespace

std::optional<std::pair<std::size_t, DeliveryEngine::IdleConnection>> DeliveryEngine::take_idle(
    const RouteAnswer& route, TlsPolicy tls) {
  if (idle_count_ == 0) return std::nullopt;
  for (std::size_t i = 0; i < route.endpoints.size(); ++i) {
    const auto it = idle_.find(server_key(route.endpoints[i], tls));
    if (it == idle_.end()) continue;
    std::optional<IdleConnection> found;
    // The most recently used first: the likeliest to be still open on the server's side.
    while (!it->second.empty() && !found) {
      IdleConnection idle = std::move(it->second.back());
      it->second.pop_back();
      --idle_count_;
      if (idle.connection->idle()) found = std::move(idle);
    }
    if (it->second.empty()) idle_.erase(it);
    if (found) return std::make_pair(i, std::move(*found));
  }
  return std::nullopt;
}

void DeliveryEngine::keep_idle(IdleConnection idle) {
  if (options_.max_idle_connections == 0) {
    idle.connection->close_idle();
    return;
  }
  while (idle_count_ >= options_.max_idle_connections)
    close_longest_idle();
  const std::string key = server_key(idle.endpoint, idle.tls);
  idle_[key].push_back(std::move(idle));
  ++idle_count_;
}

// Forgets connections that closed themselves (idle too long, or the server hung up).
void DeliveryEngine::sweep_idle() {
  if (idle_count_ == 0) return;
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::vector<IdleConnection>& list = it->second;
    const auto gone = std::remove_if(list.begin(), list.end(), [](const IdleConnection& idle) {
      return !idle.connection->idle();
    });
    idle_count_ -= static_cast<std::size_t>(list.end() - gone);
    list.erase(gone, list.end());
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
}

void DeliveryEngine::close_longest_idle() {
  auto oldest_domain = idle_.end();
  std::size_t oldest_index = 0;
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      if (oldest_domain == idle_.end() ||
          it->second[i].idle_since < oldest_domain->second[oldest_index].idle_since) {
        oldest_domain = it;
        oldest_index = i;
      }
    }
  }
  if (oldest_domain == idle_.end()) return;
  std::vector<IdleConnection>& list = oldest_domain->second;
  list[oldest_index].connection->close_idle();
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(oldest_index));
  --idle_count_;
  if (list.empty()) idle_.erase(oldest_domain);
}

void DeliveryEngine::refile_due(TimePoint now) {
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    auto node = waiting_.extract(waiting_.begin());
    Waiting& w = node.mapped();
    waiting_count_ -= w.recipients.size();
    scheduler_.refile(w.domain, w.recipients);
  }
}

void DeliveryEngine::prefetch_next(TimePoint now) {
  if (options_.prefetch_queues == 0) return;
  next_queues_.clear();
  scheduler_.queues().next_in_order(options_.prefetch_queues, next_queues_);
  if (next_queues_.empty()) return;
  std::vector<std::string_view> domains;
  domains.reserve(next_queues_.size());
  for (const DomainQueue* q : next_queues_)
    domains.push_back(q->domain());
  routes_.prefetch(domains, now);
}

TlsPolicy DeliveryEngine::tls_for(std::string_view domain) const {
  if (const auto it = options_.tls_by_domain.find(domain); it != options_.tls_by_domain.end())
    return it->second;
  return policy_for(domain).tls.value_or(options_.tls);
}

bool DeliveryEngine::start_batch(Batch&& batch, TimePoint now) {
  // The destination its last route showed; none before its first route (on_route counts it).
  Destination* destination = known_destination(batch.domain);
  if (destination != nullptr && !admit(*destination, batch.domain, now)) {
    hand_back(batch);
    return false;
  }
  auto flight = std::make_unique<Flight>();
  flight->id = next_flight_id_++;
  flight->batch = std::move(batch);
  flight->started = now;
  const std::string& domain = flight->batch.domain;
  std::uint32_t cap = first_concurrency(domain);
  if (destination != nullptr) {
    ++destination->sessions;
    destination->last_used = now;
    flight->destination = destination->key;
    cap = concurrency_of(*destination);
    if (destination->sessions >= cap) hold_for_destination(*destination, domain, now);
  }
  const std::uint32_t sessions = ++domain_sessions_[domain];
  // A further session to a domain opens only while a full batch is waiting for it: a trickle
  // (mail still arriving) gathers into the next batch of the session already open instead of
  // being spread over many connections.
  const DomainQueue* queue = scheduler_.queues().find(domain);
  const bool full_batch_waiting =
      queue != nullptr && queue->size() >= scheduler_.limits().batch_max_recipients;
  if (sessions >= cap || !full_batch_waiting) {
    (void)scheduler_.queues().set_hold(domain, QueueHold::connection_limit, true, now);
  }
  const std::uint64_t id = flight->id;
  const std::string domain_copy = domain;
  flights_.emplace(id, std::move(flight));
  routes_.route(domain_copy, now,
                [this, id](RouteAnswer answer) { on_route(id, std::move(answer)); });
  return true;
}

void DeliveryEngine::on_route(std::uint64_t flight_id, RouteAnswer answer) {
  const auto it = flights_.find(flight_id);
  if (it == flights_.end()) return;
  Flight& flight = *it->second;
  flight.route = std::move(answer);
  const Batch& batch = flight.batch;
  if (flight.route.kind != RouteAnswer::Kind::route || flight.route.endpoints.empty()) {
    flight.results.assign(batch.recipients.size(), RecipientResult{});
    const bool permanent = flight.route.kind == RouteAnswer::Kind::permanent_failure;
    DeliveryOutcome outcome =
        classify_transport(permanent ? (flight.route.null_mx ? TransportFailure::dns_null_mx
                                                             : TransportFailure::dns_no_such_domain)
                                     : TransportFailure::dns_temporary);
    if (!flight.route.reason.empty()) {
      outcome.text = "Host or domain name not found. " + flight.route.reason;
    } else if (!permanent) {
      outcome.text = "no route to " + batch.domain + " is known yet";
    }
    for (RecipientResult& r : flight.results)
      r.outcome = outcome;
    finish(flight, flight.results);
    return;
  }
  // The route names the destination: with MX rollup, the one its MX hosts share.
  const TimePoint now = clock_.now();
  Destination& destination = destination_for(batch.domain, flight.route, now);
  if (destination.key != flight.destination) {
    if (Destination* before = find_destination(flight.destination)) {
      --before->sessions;
      release_destination(*before, now);
    }
    flight.destination = destination.key;
    ++destination.sessions;
    destination.last_used = now;
    if (destination.sessions > concurrency_of(destination) ||
        destination.shaper.next_allowed(now) > now) {
      // Its budget is in use by other domains of the destination, or it must wait: back to
      // the queue, untried, which admit() then holds or defers.
      flight.results.assign(batch.recipients.size(), RecipientResult{});
      for (RecipientResult& r : flight.results)
        r.not_attempted = true;
      finish(flight, flight.results);
      return;
    }
  }
  if (auto idle = take_idle(flight.route, tls_for(batch.domain))) {
    flight.kept = std::move(idle->second.connection);
    flight.kept_endpoint = idle->first;
    flight.connection_messages = idle->second.messages_used;
    flight.connection_opened = idle->second.opened;
    ++counters_.batches_reused;
  }
  send_flight(flight);
}

void DeliveryEngine::send_flight(Flight& flight) {
  const Batch& batch = flight.batch;
  const std::size_t n = batch.recipients.size();
  flight.results.assign(n, RecipientResult{});
  flight.decided.assign(n, false);
  flight.diagnostics.assign(n, std::string());
  flight.rate_limited = false;
  const std::size_t per_connection = policy_for(batch.domain).max_messages_per_connection;
  const std::size_t message_budget =
      per_connection > flight.connection_messages ? per_connection - flight.connection_messages : 1;
  const TimePoint now = clock_.now();
  flight.sent_at = now;
  Destination* destination = find_destination(flight.destination);
  SmtpSessionRequest request;
  request.endpoints = flight.route.endpoints;
  request.client_name = options_.helo_name;
  request.tls = tls_for(batch.domain);
  request.timeouts = options_.timeouts;
  request.keep_idle = options_.connection_idle_time;
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    const std::span<const BatchRecipient> group = batch.message_group(g);
    const std::size_t first = static_cast<std::size_t>(group.data() - batch.recipients.data());
    const MessageRecord& record = scheduler_.messages()[group.front().message];
    const std::string queue_id(record.spool().queue_id);
    const auto decide_all = [&](const RecipientResult& result) {
      for (std::size_t k = 0; k < group.size(); ++k) {
        flight.results[first + k] = result;
        flight.decided[first + k] = true;
      }
    };
    if (!flight.rate_limited && request.messages.size() < message_budget &&
        destination != nullptr && !destination->shaper.may_start_message(now)) {
      flight.rate_limited = true;  // this and the rest wait for the destination's next tokens
    }
    if (request.messages.size() >= message_budget || flight.rate_limited) {
      // Beyond this connection's share: straight back to the head of the queue, no attempt spent.
      RecipientResult later;
      later.outcome.recipient = RecipientOutcome::retry;
      later.outcome.reason = OutcomeReason::temporary_reply;
      later.outcome.status = DsnStatus{4, 0, 0};
      later.not_attempted = true;
      decide_all(later);
      continue;
    }
    HeldMessageOpenResult opened = spool_.open_message(queue_id);
    if (!opened.ok()) {
      RecipientResult result;
      if (spool_.check(queue_id).state == HeldFileState::missing) {
        log(LogLevel::warning, queue_id +
                                   ": held file is gone (removed or released by an "
                                   "administrator); its recipients are dropped");
        result.dropped = true;
        result.outcome.recipient = RecipientOutcome::bounced;
        result.outcome.text = "held file removed";
      } else {
        log(LogLevel::error, queue_id + ": cannot read the held message: " + opened.error);
        result.outcome = classify_transport(TransportFailure::connection_lost);
        result.outcome.domain = DomainAction::none;
        result.outcome.text = "cannot read the held message: " + opened.error;
      }
      decide_all(result);
      continue;
    }
    std::shared_ptr<HeldMessageReader> reader = std::move(opened.reader);
    const HeldSendEnvelope& envelope = reader->envelope();
    SmtpMessage message;
    message.sender = envelope.sender;
    message.parameters.size = envelope.size;
    message.parameters.eight_bit_mime = envelope.eight_bit;
    message.parameters.smtputf8 = envelope.smtputf8;
    message.parameters.envid = envelope.envelope_id;
    message.parameters.ret = envelope.ret == 1   ? DsnReturn::full
                             : envelope.ret == 2 ? DsnReturn::headers
                                                 : DsnReturn::unspecified;
    std::vector<std::size_t> indexes;
    for (std::size_t k = 0; k < group.size(); ++k) {
      const RecipientIndex r = group[k].recipient;
      if (r >= envelope.recipients.size()) {
        // The file no longer matches the record: never guess which address this was.
        RecipientResult result;
        result.outcome = classify_transport(TransportFailure::connection_lost);
        result.outcome.domain = DomainAction::none;
        result.outcome.text = "recipient " + std::to_string(r) + " is not in the held file";
        flight.results[first + k] = result;
        flight.decided[first + k] = true;
        continue;
      }
      const HeldSendRecipient& held = envelope.recipients[r];
      if (held.done) {
        RecipientResult result;
        result.outcome.recipient = RecipientOutcome::delivered;
        result.outcome.reason = OutcomeReason::accepted;
        result.outcome.status = DsnStatus{2, 0, 0};
        result.outcome.text = "already delivered by the MTA";
        flight.results[first + k] = result;
        flight.decided[first + k] = true;
        continue;
      }
      SmtpRecipient recipient;
      recipient.address = held.address;
      recipient.parameters.notify =
          DsnNotify{held.notify_never, held.notify_success, held.notify_failure, held.notify_delay};
      std::string_view orcpt = held.original_recipient;
      if (orcpt.size() > 7 && (orcpt.substr(0, 7) == "rfc822;" || orcpt.substr(0, 7) == "RFC822;"))
        orcpt.remove_prefix(7);
      recipient.parameters.orcpt = std::string(orcpt);
      message.recipients.push_back(std::move(recipient));
      indexes.push_back(first + k);
    }
    if (indexes.empty()) continue;
    message.content = [reader](const ContentLineEmitter& emit) {
      switch (reader->read(emit, kContentChunkBytes)) {
        case ReadStep::more:
          return ContentStep::more;
        case ReadStep::done:
          return ContentStep::done;
        case ReadStep::failed:
          return ContentStep::failed;
      }
      return ContentStep::failed;
    };
    request.messages.push_back(std::move(message));
    flight.request_groups.push_back(g);
    flight.request_recipients.push_back(std::move(indexes));
  }
  if (request.messages.empty()) {
    // Nothing to send after all: a kept connection waits on for the next batch.
    if (flight.kept) {
      keep_idle(IdleConnection{std::move(flight.kept), flight.route.endpoints[flight.kept_endpoint],
                               tls_for(batch.domain), flight.connection_messages,
                               flight.connection_opened, clock_.now()});
    }
    finish(flight, flight.results);
    return;
  }
  const std::uint64_t flight_id = flight.id;
  auto done = [this, flight_id](SmtpSessionResult result) {
    on_session_done(flight_id, std::move(result));
  };
  if (flight.kept) {
    std::shared_ptr<SmtpConnection> kept = std::move(flight.kept);
    kept->next_batch(std::move(request.messages), std::move(done));
    return;
  }
  start_session_(std::move(request), std::move(done));
}

void DeliveryEngine::on_session_done(std::uint64_t flight_id, SmtpSessionResult result) {
  const auto it = flights_.find(flight_id);
  if (it == flights_.end()) return;
  Flight& flight = *it->second;
  if (result.stale_connection) {
    // The kept connection had closed while idle; the batch was never seen: a new connection.
    if (result.connection) result.connection->close_idle();
    flight.kept.reset();
    flight.connection_messages = 0;
    send_flight(flight);
    return;
  }
  if (result.endpoint && !result.reused) ++counters_.connections;
  counters_.transactions += result.transactions;
  // A reused connection's endpoint index is its first session's; this route's is kept_endpoint.
  const std::optional<std::size_t> endpoint =
      result.reused ? std::optional<std::size_t>(flight.kept_endpoint) : result.endpoint;
  std::string host;
  std::string address;
  std::uint16_t port = 0;
  if (endpoint && *endpoint < flight.route.endpoints.size()) {
    address = flight.route.endpoints[*endpoint].address;
    port = flight.route.endpoints[*endpoint].port;
    if (*endpoint < flight.route.endpoint_hosts.size())
      host = flight.route.endpoint_hosts[*endpoint];
  }
  if (result.failure) {
    log(LogLevel::info, flight.batch.domain + ": session ended: " + result.failure_detail);
  }
  std::uint32_t use = static_cast<std::uint32_t>(result.earlier_messages);
  for (std::size_t m = 0; m < flight.request_groups.size() && m < result.messages.size(); ++m) {
    const SmtpMessageResult& message = result.messages[m];
    if (message.attempted) ++use;
    const std::vector<std::size_t>& indexes = flight.request_recipients[m];
    for (std::size_t k = 0; k < indexes.size(); ++k) {
      RecipientResult& r = flight.results[indexes[k]];
      r.relay_host = host;
      r.relay_address = address;
      r.relay_port = port;
      r.connection_use = use;
      if (message.content_failed) {
        r.outcome = classify_transport(TransportFailure::connection_lost);
        r.outcome.domain = DomainAction::none;
        r.outcome.text = "the held message could not be read while sending";
        continue;
      }
      if (k >= message.recipients.size()) {
        r.outcome = classify_transport(TransportFailure::connection_lost);
        continue;
      }
      const SmtpVerdict& verdict = message.recipients[k].verdict;
      r.outcome = verdict.transport ? classify_transport(*verdict.transport)
                                    : classify_reply(verdict.reply, verdict.stage);
      if (!verdict.transport && r.outcome.recipient == RecipientOutcome::retry) {
        // A response rule may say this temporary reply will never turn into a delivery.
        const ResponseRule* rule = options_.response_rules.match(verdict.reply);
        if (rule != nullptr && rule->action == ResponseAction::bounce) {
          r.outcome.recipient = RecipientOutcome::bounced;
          r.outcome.domain = DomainAction::none;
          r.outcome.status.klass = 5;
          r.outcome.text += " (bounced by the response rule \"" + rule->pattern + "\")";
        }
      }
      if (verdict.transport && !result.failure_detail.empty()) {
        r.outcome.text += " (" + result.failure_detail + ")";
      }
      flight.diagnostics[indexes[k]] = diagnostic_of(verdict);
    }
  }
  feed_shaper(flight, result, clock_.now());
  if (result.connection) {
    const TimePoint now = clock_.now();
    const TimePoint opened = result.reused ? flight.connection_opened : flight.started;
    const std::size_t used = use;
    if (starting_ && endpoint && *endpoint < flight.route.endpoints.size() &&
        result.connection->idle() &&
        used < policy_for(flight.batch.domain).max_messages_per_connection &&
        now - opened < options_.connection_reuse_time) {
      keep_idle(IdleConnection{std::move(result.connection), flight.route.endpoints[*endpoint],
                               tls_for(flight.batch.domain), used, opened, now});
    } else {
      result.connection->close_idle();
    }
  }
  finish(flight, flight.results);
}

void DeliveryEngine::finish(Flight& flight, std::vector<RecipientResult>& results) {
  const TimePoint now = clock_.now();
  const Batch& batch = flight.batch;
  const std::size_t n = batch.recipients.size();
  std::vector<RecipientOutcome> outcomes(n, RecipientOutcome::retry);

  bool domain_failed = false;
  bool domain_ok = false;
  for (std::size_t i = 0; i < n; ++i) {
    RecipientResult& r = results[i];
    const MessageRecord& record = scheduler_.messages()[batch.recipients[i].message];
    // A recipient left out of the session was not tried: it cannot have expired by failing.
    if (!r.dropped && !r.not_attempted) {
      r.outcome = apply_lifetime(std::move(r.outcome),
                                 schedule_for(batch.domain).expired(arrival_of(record), now));
    }
    if (r.outcome.domain == DomainAction::back_off) domain_failed = true;
    if (r.outcome.recipient == RecipientOutcome::delivered) domain_ok = true;
    outcomes[i] = r.outcome.recipient;
  }
  send_bounces(flight, results, outcomes);

  // Temporary failures: a domain-level one goes back to the head of the queue, which backs off;
  // a recipient's own waits out its own delay.
  std::vector<BatchRecipient> waiting;
  for (std::size_t i = 0; i < n; ++i) {
    if (outcomes[i] != RecipientOutcome::retry) continue;
    if (results[i].not_attempted) {
      outcomes[i] = RecipientOutcome::untouched;
      continue;
    }
    ++counters_.deferred;
    if (results[i].outcome.domain != DomainAction::back_off) {
      outcomes[i] = RecipientOutcome::deferred;
      waiting.push_back(batch.recipients[i]);
    }
  }

  // Log lines, then the journal: the finished bits of this whole session in one transaction.
  std::vector<RecipientIndex> finished_here;
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    const std::span<const BatchRecipient> group = batch.message_group(g);
    const std::size_t first = static_cast<std::size_t>(group.data() - batch.recipients.data());
    finished_here.clear();
    for (std::size_t k = 0; k < group.size(); ++k) {
      const std::size_t i = first + k;
      const RecipientResult& r = results[i];
      LogStatus status = LogStatus::deferred;
      if (outcomes[i] == RecipientOutcome::delivered) {
        status = LogStatus::sent;
        ++counters_.sent;
      } else if (outcomes[i] == RecipientOutcome::bounced) {
        status =
            r.outcome.reason == OutcomeReason::expired ? LogStatus::expired : LogStatus::bounced;
        if (r.dropped) {
          ++counters_.dropped;
        } else {
          ++counters_.bounced;
          if (status == LogStatus::expired) ++counters_.expired;
        }
      }
      if (!r.dropped && !r.not_attempted) {
        log_result(flight, group[k], r, status);
      }
      if (outcomes[i] == RecipientOutcome::delivered || outcomes[i] == RecipientOutcome::bounced) {
        finished_here.push_back(group[k].recipient);
      }
    }
    if (finished_here.empty()) continue;
    const MessageRecord& record = scheduler_.messages()[group.front().message];
    pending_bits_.push_back(PendingBits{record.id(), finished_here});
  }
  // The session's accounting lines reach the file in one write before its bits are committed:
  // a kill in between repeats lines (the recipients are sent again), never loses one.
  if (accounting_ && !accounting_buffer_.empty()) accounting_(accounting_buffer_);
  accounting_buffer_.clear();

  std::size_t delivered = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (outcomes[i] == RecipientOutcome::delivered) ++delivered;
  }
  if (delivered > 0) {
    DomainHistory& history = history_for(batch.domain);
    history.delivered_rate = decayed(history.delivered_rate, history.rate_at, now) +
                             static_cast<double>(delivered) / kRateTimeConstantSeconds;
    history.rate_at = now;
  }

  const std::size_t finished_before = awaiting_removal_.size();
  scheduler_.complete(batch, outcomes, awaiting_removal_);
  const bool any_finished = awaiting_removal_.size() > finished_before;

  const std::string domain = batch.domain;
  if (!waiting.empty()) {
    const std::uint32_t attempts = waiting.front().attempts + 1U;
    const TimePoint due = schedule_for(domain).next_attempt(now, attempts, random_);
    waiting_count_ += waiting.size();
    waiting_.emplace(due, Waiting{domain, std::move(waiting)});
  }
  if (domain_ok) backoff_[domain].record_success();
  Destination* destination = find_destination(flight.destination);
  if (flight.rate_limited && !domain_failed && destination != nullptr) {
    // The rest waits for the destination's next tokens (or the end of its suspension).
    (void)scheduler_.queues().defer(domain, destination->shaper.next_allowed(now), now);
    ++counters_.rate_deferrals;
  }
  if (domain_failed) {
    const TimePoint until = backoff_[domain].record_failure(now, schedule_for(domain), random_);
    ++counters_.domain_backoffs;
    if (scheduler_.queues().defer(domain, until, now)) {
      log(LogLevel::info, domain + ": deferring new connections for " + format_delay(until - now) +
                              " s" + " (failure " +
                              std::to_string(backoff_[domain].consecutive_failures()) +
                              " in a row)");
    }
  }
  flights_.erase(flight.id);  // `flight` and `batch` die here
  if (destination != nullptr) {
    if (destination->sessions > 0) --destination->sessions;
    destination->last_used = now;
    release_destination(*destination, now);
  }
  release_connection(domain);
  (void)any_finished;
  if (!options_.group_commit) (void)commit();
}

void DeliveryEngine::release_connection(const std::string& domain) {
  const auto it = domain_sessions_.find(domain);
  if (it == domain_sessions_.end()) return;
  if (--it->second == 0) domain_sessions_.erase(it);
  (void)scheduler_.queues().set_hold(domain, QueueHold::connection_limit, false, clock_.now());
}

void DeliveryEngine::send_bounces(Flight& flight, std::vector<RecipientResult>& results,
                                  std::vector<RecipientOutcome>& outcomes) {
  const Batch& batch = flight.batch;
  const TimePoint now = clock_.now();
  for (std::size_t g = 0; g < batch.message_count(); ++g) {
    const std::span<const BatchRecipient> group = batch.message_group(g);
    const std::size_t first = static_cast<std::size_t>(group.data() - batch.recipients.data());
    std::vector<std::size_t> bounced;
    for (std::size_t k = 0; k < group.size(); ++k) {
      const std::size_t i = first + k;
      if (outcomes[i] == RecipientOutcome::bounced && !results[i].dropped) bounced.push_back(i);
    }
    if (bounced.empty()) continue;
    const MessageRecord& record = scheduler_.messages()[group.front().message];
    const std::string queue_id(record.spool().queue_id);
    DsnInput input;
    input.sender = std::string(record.sender());
    input.queue_id = queue_id;
    input.reporting_host = options_.reporting_host;
    input.arrival = record.arrived();
    input.now = now;
    input.boundary_seed = random_.next();
    HeldMessageOpenResult opened = spool_.open_message(queue_id);
    if (opened.ok()) {
      bool in_headers = true;
      (void)opened.reader->read(
          [&](std::string_view line) {
            if (line.empty()) in_headers = false;
            if (in_headers) input.original_headers.emplace_back(line);
          },
          kContentChunkBytes);
    }
    for (std::size_t i : bounced) {
      DsnRecipient recipient;
      if (opened.ok() &&
          batch.recipients[i].recipient < opened.reader->envelope().recipients.size()) {
        const HeldSendRecipient& held =
            opened.reader->envelope().recipients[batch.recipients[i].recipient];
        recipient.final_recipient = held.address;
        recipient.original_recipient = held.original_address;
      } else {
        recipient.final_recipient =
            std::string(record.local_part(batch.recipients[i].recipient)) + "@" + batch.domain;
      }
      recipient.status = results[i].outcome.status;
      recipient.remote_mta = results[i].relay_host;
      recipient.diagnostic = flight.diagnostics.empty() ? std::string() : flight.diagnostics[i];
      recipient.reason = results[i].outcome.text;
      recipient.last_attempt = now;
      input.recipients.push_back(std::move(recipient));
    }
    const DsnMessage dsn = compose_dsn(input);
    if (!dsn.ok()) {
      if (dsn.refusal != DsnRefusal::null_sender) {
        log(LogLevel::warning, queue_id + ": no DSN sent: " + std::string(to_string(dsn.refusal)));
      }
      continue;  // nothing to send (the original came from <>): the recipients are finished
    }
    const std::string error = bounces_.submit(input.sender, dsn.lines);
    if (!error.empty()) {
      ++counters_.dsn_failed;
      log(LogLevel::error, queue_id + ": sender non-delivery notification not handed to the MTA: " +
                               error + "; tried again later");
      for (std::size_t i : bounced) {
        outcomes[i] = RecipientOutcome::retry;
        results[i].outcome.recipient = RecipientOutcome::retry;
        results[i].outcome.domain = DomainAction::none;
      }
      continue;
    }
    ++counters_.dsn_sent;
    log(LogLevel::info, queue_id + ": sender non-delivery notification for " +
                            std::to_string(bounced.size()) + " recipient(s) handed to the MTA");
  }
}

void DeliveryEngine::log_result(const Flight& flight, const BatchRecipient& recipient,
                                const RecipientResult& result, LogStatus status) {
  const MessageRecord& record = scheduler_.messages()[recipient.message];
  const TimePoint now = clock_.now();
  const std::string address =
      std::string(record.local_part(recipient.recipient)) + "@" + flight.batch.domain;
  DeliveryLogEntry entry;
  entry.queue_id = record.spool().queue_id;
  entry.recipient = address;
  entry.relay_host = result.relay_host.empty() ? result.relay_address : result.relay_host;
  entry.relay_address = result.relay_address;
  entry.relay_port = result.relay_port;
  entry.connection_use = result.connection_use;
  entry.delay = now - record.arrived();
  entry.delays.in_queue = flight.started - record.arrived();
  entry.delays.transmission = now - flight.started;
  entry.dsn = result.outcome.status;
  entry.status = status;
  entry.text = result.outcome.text;
  log(status == LogStatus::sent ? LogLevel::info : LogLevel::warning, delivery_log_line(entry));
  note_reply(flight.batch.domain, utc_stamp(now) + " " + std::string(to_string(status)) + " " +
                                      result.outcome.status.to_string() + " " +
                                      result.outcome.text);
  if (accounting_) {
    AccountingEntry account;
    account.time = now;
    account.queue_id = entry.queue_id;
    account.bulkq_id = record.id();
    account.sender = record.sender();
    account.recipient = address;
    account.domain = flight.batch.domain;
    account.status = status;
    account.dsn = result.outcome.status;
    const std::string relay =
        relay_text(result.relay_host, result.relay_address, result.relay_port);
    account.relay = relay;
    account.reply = result.outcome.text;
    account.attempts = recipient.attempts + 1U;
    accounting_buffer_ += accounting_line(account);
    accounting_buffer_ += '\n';
  }
}

bool DeliveryEngine::commit() {
  if (!pending_bits_.empty() || !pending_record_removals_.empty()) {
    if (!write_journal()) return false;
  }
  if (awaiting_removal_.empty()) return true;
  // The bits are durable: the held files of finished messages go, then (in the next commit)
  // their records.
  for (const MessageIndex m : awaiting_removal_) {
    const MessageRecord& record = scheduler_.messages()[m];
    const std::string queue_id(record.spool().queue_id);
    const SpoolResult gone = spool_.remove(queue_id);
    if (!gone.ok()) {
      // The bits say finished; the record stays so recovery retries the removal.
      log(LogLevel::error, queue_id + ": " + gone.error);
    } else {
      log(LogLevel::info, queue_id + ": removed");
      pending_record_removals_.push_back(record.id());
    }
    if (on_removed_) on_removed_(record.heap_bytes());
    scheduler_.forget(m);
  }
  awaiting_removal_.clear();
  if (!options_.group_commit && !pending_record_removals_.empty()) return write_journal();
  return true;
}

bool DeliveryEngine::write_journal() {
  if (before_journal_batch_) before_journal_batch_();
  const JournalStatus begun = journal_.begin_batch();
  if (!begun.ok()) {
    log(LogLevel::error, "journal: " + begun.error);
    return false;
  }
  for (const PendingBits& bits : pending_bits_) {
    const JournalStatus set = journal_.set_finished(bits.id, bits.recipients);
    if (!set.ok()) log(LogLevel::error, "journal: " + set.error);
  }
  for (const MessageId id : pending_record_removals_)
    (void)journal_.remove(id);
  const JournalStatus committed = journal_.commit_batch();
  if (!committed.ok()) {
    // Everything stays pending and is written again by the next commit().
    log(LogLevel::error, "journal: " + committed.error);
    return false;
  }
  pending_bits_.clear();
  pending_record_removals_.clear();
  return true;
}

// --- shaping -----------------------------------------------------------------------------------

namespace {

// Destinations unused this long are forgotten (their learnt speed with them); the sweep that
// looks for them runs at most this often.
constexpr Duration kForgetDestinationAfter = std::chrono::hours(1);
constexpr Duration kDestinationSweepInterval = std::chrono::minutes(1);
// Distinct replies of one session a response rule is tried on: bounded regex work per session.
constexpr std::size_t kRuleMatchesPerSession = 16;

// A 4xx that is about one address or mailbox (4.1.x, 4.2.x: mailbox full, greylisting's 4.2.0),
// about too many recipients in one transaction (4.5.3), or says it greylists: it tells nothing
// about sending speed, and would make a greylisting destination look like one pushing back.
bool says_nothing_about_speed(const SmtpStatus& reply) {
  if (reply.enhanced_class == 4 &&
      (reply.subject == 1 || reply.subject == 2 || (reply.subject == 5 && reply.detail == 3)))
    return true;
  const std::string_view text(reply.text);
  static constexpr std::string_view kGreylist = "greylist";
  const auto it =
      std::search(text.begin(), text.end(), kGreylist.begin(), kGreylist.end(),
                  [](char a, char b) { return (a >= 'A' && a <= 'Z' ? a - 'A' + 'a' : a) == b; });
  return it != text.end();
}

// One transaction as the shaper counts it; none when a transport failure cut it short (that
// counts as a connection failure) or it was never sent.
std::optional<TransactionResult> transaction_result(const SmtpMessageResult& message) {
  if (!message.attempted || message.content_failed) return std::nullopt;
  const SmtpStatus* decisive = nullptr;
  if (message.mail_reply && message.mail_reply->code >= 400) {
    decisive = &*message.mail_reply;
  } else if (message.data_end_reply) {
    if (message.data_end_reply->code < 400) return TransactionResult::accepted;
    decisive = &*message.data_end_reply;
  } else if (message.data_reply && message.data_reply->code >= 400) {
    decisive = &*message.data_reply;
  } else {
    // Each recipient's final word: any 2xx means the transaction went through.
    for (const SmtpRecipientResult& r : message.recipients) {
      if (r.verdict.transport || r.verdict.local) continue;
      if (r.verdict.reply.code >= 200 && r.verdict.reply.code < 300)
        return TransactionResult::accepted;
      if (decisive == nullptr && r.verdict.reply.code >= 400) decisive = &r.verdict.reply;
    }
  }
  if (decisive == nullptr) return std::nullopt;
  if (decisive->code >= 500 || says_nothing_about_speed(*decisive))
    return TransactionResult::permanent;
  return TransactionResult::temporary;
}

std::string format_rate(const std::optional<double>& rate) {
  if (!rate) return "unlimited";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f/s", *rate);
  return text;
}

}  // namespace

DeliveryEngine::Destination* DeliveryEngine::known_destination(const std::string& domain) {
  const auto known = destination_of_.find(domain);
  return known == destination_of_.end() ? nullptr : find_destination(known->second);
}

std::uint32_t DeliveryEngine::first_concurrency(std::string_view domain) const {
  const DestinationPolicy& policy = policy_for(domain);
  return policy.adaptive
             ? std::clamp(policy.limits.initial_connections, 1U, policy.limits.max_connections)
             : policy.limits.max_connections;
}

DeliveryEngine::Destination& DeliveryEngine::destination_for(const std::string& domain,
                                                             const RouteAnswer& route,
                                                             TimePoint now) {
  const std::size_t policy = policies_.find(domain);
  std::string key;
  if (options_.mx_rollup && !route.endpoints.empty()) {
    // The MX host names (addresses when a route has none), sorted: the same set, the same
    // destination, whichever domain's MX records name it.
    std::vector<std::string_view> hosts;
    for (std::size_t i = 0; i < route.endpoints.size(); ++i) {
      const bool named = i < route.endpoint_hosts.size() && !route.endpoint_hosts[i].empty();
      hosts.emplace_back(named ? route.endpoint_hosts[i] : route.endpoints[i].address);
    }
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    key = std::to_string(policy) + "|mx:";
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (i > 0) key += ',';
      key += hosts[i];
    }
  } else {
    key = std::to_string(policy) + "|" + domain;
  }
  destination_of_[domain] = key;
  auto it = destinations_.find(key);
  if (it == destinations_.end()) {
    const DestinationPolicy& p = policies_[policy];
    ShapingLimits limits = p.limits;
    if (!p.adaptive) {
      // Static: start at the limits and stay there (nothing is fed back).
      limits.initial_connections = limits.max_connections;
      if (limits.max_rate) limits.initial_rate = *limits.max_rate;
    }
    it = destinations_
             .emplace(key, Destination{key, policy, DomainShaper(limits, now), 0, {}, now, 0})
             .first;
  }
  return it->second;
}

DeliveryEngine::Destination* DeliveryEngine::find_destination(const std::string& key) {
  const auto it = destinations_.find(key);
  return it == destinations_.end() ? nullptr : &it->second;
}

std::uint32_t DeliveryEngine::concurrency_of(const Destination& destination) const {
  const DestinationPolicy& policy = policies_[destination.policy];
  return policy.adaptive ? destination.shaper.concurrency() : policy.limits.max_connections;
}

bool DeliveryEngine::admit(Destination& destination, const std::string& domain, TimePoint now) {
  if (destination.sessions >= concurrency_of(destination)) {
    hold_for_destination(destination, domain, now);
    ++counters_.concurrency_holds;
    return false;
  }
  const TimePoint allowed = destination.shaper.next_allowed(now);
  if (allowed > now) {
    (void)scheduler_.queues().defer(domain, allowed, now);
    ++counters_.rate_deferrals;
    return false;
  }
  return true;
}

void DeliveryEngine::hold_for_destination(Destination& destination, const std::string& domain,
                                          TimePoint now) {
  if (!scheduler_.queues().set_hold(domain, QueueHold::destination_busy, true, now)) return;
  if (std::find(destination.held.begin(), destination.held.end(), domain) == destination.held.end())
    destination.held.push_back(domain);
}

void DeliveryEngine::release_destination(Destination& destination, TimePoint now) {
  if (destination.held.empty() || destination.sessions >= concurrency_of(destination)) return;
  for (const std::string& domain : destination.held)
    (void)scheduler_.queues().set_hold(domain, QueueHold::destination_busy, false, now);
  destination.held.clear();
}

void DeliveryEngine::hand_back(const Batch& batch) {
  const std::vector<RecipientOutcome> outcomes(batch.recipients.size(),
                                               RecipientOutcome::untouched);
  scheduler_.complete(batch, outcomes, awaiting_removal_);
}

void DeliveryEngine::feed_shaper(const Flight& flight, const SmtpSessionResult& result,
                                 TimePoint now) {
  Destination* destination = find_destination(flight.destination);
  if (destination == nullptr || !policies_[destination->policy].adaptive) return;
  DomainShaper& shaper = destination->shaper;

  // Response rules first: a "too many connections" should slow the next batch, not only the
  // window's verdict. Each distinct refusal of the session is tried once.
  std::vector<const SmtpStatus*> refusals;
  const auto note = [&](const std::optional<SmtpStatus>& reply) {
    if (reply && reply->code >= 400) refusals.push_back(&*reply);
  };
  note(result.session_reply);
  bool content_failed = false;
  std::size_t attempted = 0;
  for (const SmtpMessageResult& message : result.messages) {
    if (message.attempted) ++attempted;
    content_failed = content_failed || message.content_failed;
    note(message.mail_reply);
    note(message.data_reply);
    note(message.data_end_reply);
    for (const SmtpRecipientResult& r : message.recipients) {
      if (!r.verdict.transport && !r.verdict.local && r.verdict.reply.code >= 400)
        refusals.push_back(&r.verdict.reply);
    }
  }
  std::vector<std::string_view> tried;
  for (const SmtpStatus* reply : refusals) {
    if (tried.size() >= kRuleMatchesPerSession) break;
    if (std::find(tried.begin(), tried.end(), reply->text) != tried.end()) continue;
    tried.emplace_back(reply->text);
    const ResponseRule* rule = options_.response_rules.match(*reply);
    if (rule == nullptr) continue;
    ++counters_.rule_matches;
    if (rule->action != ResponseAction::bounce) shaper.on_response_rule(now, *rule);
  }

  // Each transaction, with the batch's time spread over them as its latency.
  const Duration latency =
      attempted == 0 ? Duration::zero() : (now - flight.sent_at) / static_cast<int>(attempted);
  for (const SmtpMessageResult& message : result.messages) {
    if (const std::optional<TransactionResult> r = transaction_result(message))
      shaper.on_transaction(now, latency, *r);
  }
  // A refused, timed-out or reset connection, a TLS failure, a 4xx greeting: the destination
  // may be overloaded. A failure to read our own held file is not its doing.
  const bool session_refused =
      result.session_reply && result.session_reply->code >= 400 && result.session_reply->code < 500;
  if ((result.failure && !content_failed) || session_refused) shaper.on_connection_failure(now);

  const ShapingSnapshot after = shaper.snapshot(now);
  if (after.decreases != destination->decreases_seen) {
    counters_.shaping_decreases += after.decreases - destination->decreases_seen;
    destination->decreases_seen = after.decreases;
    log(LogLevel::info, destination->key.substr(destination->key.find('|') + 1) +
                            ": slowing down to " + std::to_string(after.concurrency) +
                            " connection(s), " + format_rate(after.rate) + " (" +
                            std::string(to_string(after.state)) + ")");
  }
}

void DeliveryEngine::forget_idle_destinations(TimePoint now) {
  if (now < next_destination_sweep_) return;
  next_destination_sweep_ = now + kDestinationSweepInterval;
  bool forgot = false;
  for (auto it = destinations_.begin(); it != destinations_.end();) {
    const Destination& d = it->second;
    if (d.sessions == 0 && d.held.empty() && now - d.last_used >= kForgetDestinationAfter) {
      it = destinations_.erase(it);
      forgot = true;
    } else {
      ++it;
    }
  }
  if (!forgot) return;
  for (auto it = destination_of_.begin(); it != destination_of_.end();)
    it = destinations_.contains(it->second) ? std::next(it) : destination_of_.erase(it);
}

std::uint64_t DeliveryEngine::withdraw_waiting(
    const std::function<bool(MessageIndex message, std::string_view domain, bool in_flight)>&
        visit) {
  for (const auto& [id, flight] : flights_) {
    const Batch& batch = flight->batch;
    for (std::size_t g = 0; g < batch.message_count(); ++g)
      (void)visit(batch.message_group(g).front().message, batch.domain, true);
  }
  std::uint64_t dropped = 0;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    std::vector<BatchRecipient>& recipients = it->second.recipients;
    // A message's recipients of one domain were deferred together: ask once per run.
    std::optional<std::pair<MessageIndex, bool>> last;
    const auto gone = std::remove_if(recipients.begin(), recipients.end(), [&](const auto& r) {
      if (!last || last->first != r.message)
        last.emplace(r.message, visit(r.message, it->second.domain, false));
      return last->second;
    });
    const auto n = static_cast<std::uint64_t>(recipients.end() - gone);
    recipients.erase(gone, recipients.end());
    dropped += n;
    waiting_count_ -= n;
    it = recipients.empty() ? waiting_.erase(it) : std::next(it);
  }
  return dropped;
}

}  // namespace bulkq
