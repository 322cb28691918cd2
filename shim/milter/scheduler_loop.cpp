#include "milter/scheduler_loop.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <random>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/domain_report.h"
#include "admin/status_reply.h"
#include "delivery/delivery_engine.h"
#include "delivery/delivery_routes.h"
#include "delivery/message_release.h"
#include "dns/cares_resolver.h"
#include "dns/dns_cache_store.h"
#include "dns/dns_service.h"
#include "dns/domain_resolver.h"
#include "milter/metrics_http_server.h"
#include "shaping/shaping_settings.h"

namespace bulkq {

namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

std::chrono::seconds seconds(std::uint32_t s) {
  return std::chrono::seconds(s);
}

SmtpTimeouts smtp_timeouts(const DeliveryTimeouts& t) {
  SmtpTimeouts out;
  out.connect = seconds(t.connect);
  out.greeting = seconds(t.greeting);
  out.ehlo = seconds(t.ehlo);
  out.starttls = seconds(t.starttls);
  out.mail = seconds(t.mail);
  out.rcpt = seconds(t.rcpt);
  out.data_init = seconds(t.data_init);
  out.data_block = seconds(t.data_block);
  out.data_end = seconds(t.data_end);
  out.rset = seconds(t.rset);
  out.quit = seconds(t.quit);
  return out;
}

// The delivery engine's options of `config` (all but helo_name, reporting_host and the seed).
DeliveryEngineOptions delivery_options(const Config& config, std::string& error) {
  DeliveryEngineOptions options;
  options.max_connections = config.delivery.max_connections;
  options.max_connections_per_domain = config.delivery.max_connections_per_domain;
  options.max_messages_per_connection = config.delivery.max_messages_per_connection;
  options.connection_idle_time = seconds(config.delivery.connection_idle_time);
  options.connection_reuse_time = seconds(config.delivery.connection_reuse_time);
  options.max_idle_connections = config.delivery.max_idle_connections;
  options.tls = tls_policy_of(config.delivery.tls);
  for (const DomainTls& entry : config.delivery.tls_policy)
    options.tls_by_domain[entry.domain] = tls_policy_of(entry.tls);
  options.retry = retry_policy_of(config.delivery);
  options.shaping = shaping_limits_of(config);
  options.adaptive = config.shaping.adaptive;
  options.mx_rollup = config.shaping.mx_rollup;
  options.destination_policies = destination_policies_of(config);
  ResponseRulesResult rules = ResponseRules::make(response_rules_of(config.shaping));
  if (!rules.ok()) error = "shaping.rules: " + rules.error;  // the parser checked them already
  options.response_rules = std::move(rules.rules);
  options.timeouts = smtp_timeouts(config.delivery.timeouts);
  options.prefetch_queues = config.dns.prefetch_queues;
  return options;
}

// `queues` without --top shows this many; `metrics` has per-domain series for this many.
constexpr std::uint32_t kDefaultQueuesShown = 100;
constexpr std::uint32_t kMetricsDomains = 20;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

class AsioSchedulerLoop final : public SchedulerLoop {
 public:
  explicit AsioSchedulerLoop(SchedulerLoopParts parts)
      : parts_(std::move(parts)),
        config_(*parts_.config),
        clock_(*parts_.clock),
        tick_timer_(io_),
        random_(std::random_device{}()) {}

  ~AsioSchedulerLoop() override {
    // The engine's sessions and the resolver's lookups hold handlers on io_: drop them first,
    // then the parts they call into.
    io_.stop();
    if (metrics_server_) metrics_server_->stop();
    metrics_server_.reset();
    delivery_.reset();
    routes_.reset();
    relay_resolver_.reset();
    dns_.reset();
    resolver_.reset();
  }

  std::string build() {
    if (config_.admin.metrics_port != 0) {
      MetricsHttpServerResult metrics = start_metrics_http_server(
          io_, config_.admin.metrics_host, config_.admin.metrics_port, [this] {
            return metrics_text(current_status(),
                                queue_rows(parts_.scheduler->queues(), clock_.now(),
                                           kMetricsDomains, QueueOrder::size));
          });
      if (!metrics.ok()) return metrics.error;
      metrics_server_ = std::move(metrics.server);
      log(LogLevel::info, "metrics listener on " + config_.admin.metrics_host + " port " +
                              std::to_string(config_.admin.metrics_port) + " (GET /metrics)");
    }
    if (!config_.delivery.enabled) return {};
    CaresResolverOptions resolver_options;
    resolver_options.servers = join(config_.dns.servers);
    resolver_options.timeout = std::chrono::milliseconds(config_.dns.timeout_ms);
    resolver_options.tries = static_cast<int>(config_.dns.tries);
    CaresResolverCreateResult resolver = CaresResolver::create(io_, resolver_options);
    if (!resolver.error.empty()) return "dns: " + resolver.error;
    resolver_ = std::move(resolver.resolver);

    const PickIndex pick = [this](std::size_t n) {
      return n <= 1 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
    };
    DomainResolverOptions resolver_choice;
    resolver_choice.ipv6 = config_.dns.ipv6;
    if (config_.delivery.mode == DeliveryMode::relay) {
      relay_resolver_ = std::make_unique<DomainResolver>(*resolver_, pick, resolver_choice);
      routes_ = std::make_unique<RelayRoutes>(*relay_resolver_, config_.delivery.relay_host,
                                              config_.delivery.relay_port);
    } else {
      LmdbDnsCacheStoreOptions store_options;
      store_options.directory = config_.dns.cache_directory;
      store_options.map_size = static_cast<std::size_t>(config_.dns.cache_map_size_mib) << 20;
      LmdbDnsCacheStoreOpenResult store = LmdbDnsCacheStore::open(store_options);
      if (!store.ok()) return "dns cache: " + store.error;
      store_ = std::move(store.store);
      DnsServiceOptions dns_options;
      dns_options.cache.min_ttl = seconds(config_.dns.min_ttl);
      dns_options.cache.max_ttl = seconds(config_.dns.max_ttl);
      dns_options.cache.min_negative_ttl = seconds(config_.dns.negative_min_ttl);
      dns_options.cache.max_negative_ttl = seconds(config_.dns.negative_max_ttl);
      dns_options.cache.temporary_failure_ttl = seconds(config_.dns.failure_ttl);
      dns_options.cache.serve_stale = seconds(config_.dns.serve_stale);
      dns_options.refresh_horizon = seconds(config_.dns.refresh_ahead);
      dns_options.resolver = resolver_choice;
      dns_ = std::make_unique<DnsService>(*resolver_, store_.get(), pick, dns_options);
      const DnsServiceStartReport report = dns_->start(clock_.now());
      log(LogLevel::info, "dns cache " + config_.dns.cache_directory + ": " +
                              std::to_string(report.restored) + " domain(s) restored, " +
                              std::to_string(report.expired) + " expired, " +
                              std::to_string(report.skipped) + " skipped" +
                              (report.first_skip.empty() ? "" : " (" + report.first_skip + ")"));
      if (!report.store_error.empty()) {
        log(LogLevel::warning, "dns cache: " + report.store_error + "; starting colder");
      }
      routes_ = std::make_unique<DnsRoutes>(*dns_, config_.delivery.port,
                                            seconds(config_.dns.refresh_ahead));
    }

    std::string options_error;
    DeliveryEngineOptions options = delivery_options(config_, options_error);
    if (!options_error.empty()) return options_error;
    options.helo_name = parts_.helo_name;
    options.reporting_host = parts_.helo_name;
    options.random_seed = random_();
    options.group_commit = true;
    StartSession start = [this](SmtpSessionRequest request,
                                std::function<void(SmtpSessionResult)> done) {
      start_smtp_session(io_, std::move(request), std::move(done));
    };
    AccountingSink accounting;
    if (parts_.accounting_fd >= 0) {
      accounting = [this](std::string_view lines) { write_accounting(lines); };
    }
    delivery_ = std::make_unique<DeliveryEngine>(
        clock_, *parts_.scheduler, *parts_.journal, *parts_.spool, *routes_, std::move(start),
        *parts_.bounces, std::move(options), parts_.log, std::move(accounting));
    delivery_->on_message_removed(
        [intake = parts_.intake](std::uint64_t bytes) { intake->note_record_removed(bytes); });
    delivery_->before_journal_batch([intake = parts_.intake] { intake->flush_journal(); });
    return {};
  }

  void run() override {
    schedule_tick(std::chrono::milliseconds(0));
    io_.run();
    parts_.intake->drain();
    refresh_volume();
    publish();
  }

  void stop() override { stop_requested_.store(true, std::memory_order_relaxed); }

  std::optional<std::string> answer(const AdminRequest& request,
                                    std::chrono::milliseconds timeout) override {
    if (request.command == AdminCommand::release) return release_on_loop(request, timeout);
    return on_loop([this, request] { return answer_here(request); }, timeout);
  }

  std::optional<std::string> reconfigure(const Config& next,
                                         std::chrono::milliseconds timeout) override {
    return on_loop(
        [this, next] {
          if (!delivery_) return std::string();
          std::string error;
          DeliveryEngineOptions options = delivery_options(next, error);
          if (!error.empty()) return error;
          delivery_->reconfigure(std::move(options));
          log(LogLevel::info,
              "reload: delivery limits and shaping applied; destinations learn "
              "their speed afresh");
          return std::string();
        },
        timeout);
  }

 private:
  // Runs `work` on the scheduler thread and waits up to `timeout` for its result; an exception
  // becomes an error reply.
  std::optional<std::string> on_loop(std::function<std::string()> work,
                                     std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<std::string>>();
    std::future<std::string> reply = promise->get_future();
    asio::post(io_, [work = std::move(work), promise] {
      try {
        promise->set_value(work());
      } catch (const std::exception& e) {
        promise->set_value(error_reply_json(std::string("internal error: ") + e.what()));
      }
    });
    if (reply.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    try {
      return reply.get();
    } catch (const std::exception&) {
      return std::nullopt;  // the loop ended with the request still queued
    }
  }

  void log(LogLevel level, std::string_view text) const {
    if (parts_.log) parts_.log(level, text);
  }

  // One write(2) per session on an O_APPEND descriptor: lines never interleave or tear.
  void write_accounting(std::string_view lines) {
    while (!lines.empty()) {
      const ssize_t n = ::write(parts_.accounting_fd, lines.data(), lines.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (!accounting_failed_) {
          log(LogLevel::error,
              std::string("accounting log: write failed: ") + std::strerror(errno));
        }
        accounting_failed_ = true;
        return;
      }
      lines.remove_prefix(static_cast<std::size_t>(n));
    }
    accounting_failed_ = false;
  }

  void schedule_tick(std::chrono::milliseconds delay) {
    tick_timer_.expires_after(delay);
    tick_timer_.async_wait([this](const boost::system::error_code& error) {
      if (!error) tick();
    });
  }

  // One round: intake, delivery, DNS refresh, status. Re-arms itself until stopped.
  void tick() {
    const auto now = SteadyClock::now();
    if (stop_requested_.load(std::memory_order_relaxed) && !stopping_) {
      stopping_ = true;
      stop_deadline_ = now + parts_.drain_timeout;
      if (delivery_) delivery_->stop_starting();
    }
    const bool intake_busy = parts_.intake->step();
    bool delivery_busy = false;
    if (delivery_) {
      // One journal transaction for every session that ended since the last round.
      if (delivery_->commit_pending()) (void)delivery_->commit();
      delivery_busy = delivery_->pump();
      if (dns_ && now - last_refresh_ >= std::chrono::seconds(1)) {
        dns_->refresh(clock_.now());
        last_refresh_ = now;
      }
    }
    if (now - last_volume_ >= std::chrono::seconds(1)) {
      refresh_volume();
      last_volume_ = now;
    }
    if (intake_busy || delivery_busy || now - last_publish_ >= std::chrono::milliseconds(100)) {
      publish();
      last_publish_ = now;
    }
    if (stopping_) {
      const std::size_t open = delivery_ ? delivery_->sessions_open() : 0;
      if (delivery_) (void)delivery_->commit();
      if (open == 0 || now >= stop_deadline_) {
        if (open > 0) {
          log(LogLevel::warning, std::to_string(open) +
                                     " session(s) still open at shutdown: their recipients "
                                     "stay queued and are sent after the restart");
        }
        io_.stop();
        return;
      }
    }
    // Busy: go again at once. Sessions open: soon, so a finished one is followed by the next
    // batch without delay. Otherwise: a message waiting for Postfix's commit is checked often
    // (the file appears ~1 ms after the milter's reply); else within 10 ms.
    std::chrono::milliseconds delay(10);
    if (intake_busy || delivery_busy) {
      delay = std::chrono::milliseconds(0);
    } else if ((delivery_ && delivery_->sessions_open() > 0) ||
               parts_.intake->pending_count() > 0) {
      delay = std::chrono::milliseconds(1);
    }
    schedule_tick(delay);
  }

  // ---- admin requests (scheduler thread) ---------------------------------------------------

  // Each domain's recent delivery rate, for the queue rows (none while delivery is off).
  std::function<double(std::string_view)> rate_lookup(TimePoint now) const {
    if (!delivery_) return {};
    return [this, now](std::string_view domain) { return delivery_->recent_rate(domain, now); };
  }

  std::string answer_here(const AdminRequest& request) {
    const TimePoint now = clock_.now();
    QueueMap& queues = parts_.scheduler->queues();
    const std::string& domain = request.domain;
    switch (request.command) {
      case AdminCommand::queues: {
        const std::uint32_t top = request.top == 0 ? kDefaultQueuesShown : request.top;
        return queues_reply_json(queue_rows(queues, now, top, request.sort, rate_lookup(now)),
                                 queues.queue_count());
      }
      case AdminCommand::domain:
        return domain_reply_json(domain_report(domain, now));
      case AdminCommand::dns:
        return dns_reply_json(domain_report(domain, now));
      case AdminCommand::messages: {
        const DomainQueue* queue = queues.find(domain);
        return messages_reply_json(domain,
                                   queue == nullptr
                                       ? std::vector<MessageRow>{}
                                       : queued_messages(*queue, parts_.scheduler->messages(), now),
                                   request.page);
      }
      case AdminCommand::pause:
      case AdminCommand::resume: {
        const bool pause = request.command == AdminCommand::pause;
        const bool changed = queues.pause_domain(domain, pause, now);
        if (!changed) {
          return done_reply_json(domain + (pause ? " was already paused" : " was not paused"));
        }
        log(LogLevel::info,
            domain + (pause ? ": paused by an administrator" : ": resumed by an administrator"));
        return done_reply_json((pause ? "paused " : "resumed ") + domain +
                               (pause ? " (until resumed, or bulkqd restarts)" : ""));
      }
      case AdminCommand::flush: {
        if (!delivery_) return error_reply_json("flush: delivery is off (delivery.enabled)");
        const std::uint64_t moved = delivery_->flush(domain);
        const std::string what = domain.empty() ? std::string("every domain") : domain;
        log(LogLevel::info, "flush of " + what + " by an administrator: " + std::to_string(moved) +
                                " recipient(s) queued again now");
        return done_reply_json("flushed " + what + ": " + std::to_string(moved) +
                               " recipient(s) waiting for a retry queued again, backoff ended");
      }
      case AdminCommand::metrics:
        return metrics_reply_json(metrics_text(
            current_status(), queue_rows(queues, now, kMetricsDomains, QueueOrder::size)));
      default:
        return error_reply_json(std::string(to_string(request.command)) +
                                ": not available in this version");
    }
  }

  static DomainShapingReport shaping_report(const DestinationState& d, TimePoint now) {
    using std::chrono::duration_cast;
    DomainShapingReport report;
    report.destination = d.name;
    report.policy = d.policy;
    report.adaptive = d.adaptive;
    report.state = to_string(d.shaping.state);
    report.sessions = d.sessions;
    report.members = d.members;
    report.concurrency = d.concurrency;
    report.max_connections = d.max_connections;
    report.rate = d.shaping.rate;
    report.max_rate = d.max_rate;
    report.deferred_share = d.shaping.deferred_share;
    report.window_transactions = d.shaping.window_transactions;
    report.mean_latency_ms =
        duration_cast<std::chrono::milliseconds>(d.shaping.mean_latency).count();
    if (d.shaping.suspended_until && *d.shaping.suspended_until > now) {
      report.suspended_seconds =
          duration_cast<std::chrono::seconds>(*d.shaping.suspended_until - now).count() + 1;
    }
    report.decreases = d.shaping.decreases;
    report.increases = d.shaping.increases;
    return report;
  }

  // ---- bulkqctl release (scheduler thread) ---------------------------------------------------
  // The request works in steps of at most kReleaseStepMessages messages or kReleaseStepTime, one
  // per turn of the loop (sessions, intake and other requests run in between), and answers once
  // every picked message was looked at or after kReleaseRequestTime, saying how many remain
  // (the admin runs it again). Files are synced per message, so a step is bounded by the disk.
  static constexpr std::size_t kReleaseStepMessages = 100;
  static constexpr std::chrono::milliseconds kReleaseStepTime{50};
  static constexpr std::chrono::milliseconds kReleaseRequestTime{3000};

  // Like on_loop, but the reply comes when the request's last step is done.
  std::optional<std::string> release_on_loop(const AdminRequest& request,
                                             std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<std::string>>();
    std::future<std::string> reply = promise->get_future();
    asio::post(io_, [this, request, promise] { start_release(request, promise); });
    if (reply.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    try {
      return reply.get();
    } catch (const std::exception&) {
      return std::nullopt;  // the loop ended with the request still going
    }
  }

  void start_release(const AdminRequest& request,
                     const std::shared_ptr<std::promise<std::string>>& promise) {
    MessageReleaseHooks hooks;
    hooks.before_journal_batch = [intake = parts_.intake] { intake->flush_journal(); };
    hooks.on_removed = [intake = parts_.intake](std::uint64_t bytes) {
      intake->note_record_removed(bytes);
    };
    hooks.log = parts_.log;
    auto release = std::make_shared<MessageRelease>(*parts_.scheduler, *parts_.journal,
                                                    *parts_.spool, delivery_.get(), hooks);
    release->start(request.all ? std::string_view() : std::string_view(request.domain));
    log(LogLevel::info, "release of " +
                            (request.all ? std::string("every message") : request.domain) +
                            " requested by an administrator");
    continue_release(release, promise, SteadyClock::now() + kReleaseRequestTime, request);
  }

  void continue_release(const std::shared_ptr<MessageRelease>& release,
                        const std::shared_ptr<std::promise<std::string>>& promise,
                        SteadyClock::time_point request_deadline, const AdminRequest& request) {
    const SteadyClock::time_point step_deadline =
        std::min(request_deadline, SteadyClock::now() + kReleaseStepTime);
    bool done = false;
    try {
      done = release->step(kReleaseStepMessages,
                           [step_deadline] { return SteadyClock::now() >= step_deadline; });
    } catch (const std::exception& e) {
      promise->set_value(error_reply_json(std::string("release: internal error: ") + e.what()));
      return;
    }
    publish();
    if (release->failed_to_start()) {
      // The journal would not take the delivery outcomes: stop here. Nothing done yet is a
      // failed request; otherwise the reply says what was done, the error and what remains.
      const ReleaseReport report = release->report();
      if (report.released + report.busy + report.failed == 0) {
        promise->set_value(error_reply_json("release: " + report.error));
        return;
      }
      done = true;
    }
    if (!done && !stopping_ && SteadyClock::now() < request_deadline) {
      asio::post(io_, [this, release, promise, request_deadline, request] {
        continue_release(release, promise, request_deadline, request);
      });
      return;
    }
    const ReleaseReport report = release->report();
    log(LogLevel::info,
        "release of " + (request.all ? std::string("every message") : request.domain) + ": " +
            std::to_string(report.released) + " released (" + std::to_string(report.recipients) +
            " recipient(s)), " + std::to_string(report.busy) + " busy, " +
            std::to_string(report.failed) + " failed, " + std::to_string(report.remaining) +
            " remaining");
    promise->set_value(release_reply_json(report));
  }

  DomainReport domain_report(const std::string& domain, TimePoint now) {
    DomainReport report;
    report.domain = domain;
    const QueueMap& queues = parts_.scheduler->queues();
    report.paused = queues.domain_paused(domain);
    if (const DomainQueue* queue = queues.find(domain)) {
      report.queue = queue_row(*queue, now);
      report.paused = report.paused || queue->paused();
    }
    if (delivery_) {
      const DeliveryDomainState state = delivery_->domain_state(domain);
      report.sessions_open = state.sessions_open;
      report.waiting_retry = state.waiting_retry;
      if (state.next_retry != TimePoint::max()) {
        report.next_retry_seconds = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::seconds>(state.next_retry - now).count());
      }
      report.consecutive_failures = state.consecutive_failures;
      report.last_replies = state.last_replies;
      if (state.destination) report.shaping = shaping_report(*state.destination, now);
    }
    if (config_.delivery.mode == DeliveryMode::relay) {
      report.dns_state = "relay";
    } else if (dns_) {
      if (const DnsCacheRecord* record = dns_->peek(domain)) {
        const TimePoint expires = record->expires();
        report.dns_state = now < expires ? "fresh" : "stale";
        report.dns_status = to_string(record->status);
        report.dns_reason = record->reason;
        report.dns_age_seconds =
            std::chrono::duration_cast<std::chrono::seconds>(now - record->stored_at).count();
        report.dns_expires_in_seconds =
            std::chrono::duration_cast<std::chrono::seconds>(expires - now).count();
        for (const CachedHost& host : record->hosts) {
          DomainDnsHost shown;
          shown.name = host.name;
          shown.preference = host.preference;
          for (const IpAddress& address : host.addresses)
            shown.addresses.push_back(address.to_string());
          report.dns_hosts.push_back(std::move(shown));
        }
      }
    }
    return report;
  }

  // Writes the volume counts changed since the last call and takes this period's figures.
  void refresh_volume() {
    VolumeCounter* volume = parts_.volume;
    if (volume == nullptr) return;
    const std::string error = volume->flush();
    if (error != volume_error_) {
      if (!error.empty()) {
        log(LogLevel::error, "volume counter: " + error + " (the counts are kept, tried again)");
      } else {
        log(LogLevel::info, "volume counter: written again");
      }
      volume_error_ = error;
    }
    const VolumeSnapshot snapshot = volume->snapshot(std::chrono::system_clock::now());
    volume_status_.period = snapshot.period_key;
    volume_status_.messages = snapshot.global.messages;
    volume_status_.recipients = snapshot.global.recipients;
    volume_status_.messages_limit = snapshot.limits.messages;
    volume_status_.recipients_limit = snapshot.limits.recipients;
    volume_status_.sender_domains = snapshot.domains.size();
    volume_status_.action = std::string(to_string(config_.quota.action));
  }

  void publish() { parts_.board->publish(current_status()); }

  EngineStatus current_status() const {
    EngineStatus status = parts_.intake->status();
    {
      const std::uint64_t tempfailed = status.volume.tempfailed;
      status.volume = volume_status_;
      status.volume.tempfailed = tempfailed;
    }
    DeliveryStatus& d = status.delivery;
    d.enabled = config_.delivery.enabled;
    if (delivery_) {
      const DeliveryCounters c = delivery_->counters();
      d.sessions_open = c.sessions_open;
      d.connections_idle = c.connections_idle;
      d.batches_reused = c.batches_reused;
      d.waiting_retry = c.waiting_retry;
      d.connections = c.connections;
      d.transactions = c.transactions;
      d.sent = c.sent;
      d.deferred = c.deferred;
      d.bounced = c.bounced;
      d.expired = c.expired;
      d.dsn_sent = c.dsn_sent;
      d.dsn_failed = c.dsn_failed;
      d.dropped = c.dropped;
      d.domain_backoffs = c.domain_backoffs;
      d.destinations = c.destinations;
      d.destinations_backing_off = c.destinations_backing_off;
      d.destinations_suspended = c.destinations_suspended;
      d.rate_deferrals = c.rate_deferrals;
      d.concurrency_holds = c.concurrency_holds;
      d.shaping_decreases = c.shaping_decreases;
      d.rule_matches = c.rule_matches;
      status.recipients += c.waiting_retry;
    }
    if (dns_) {
      const DnsServiceStatus s = dns_->status();
      d.dns_cache_entries = s.cached_domains;
      d.dns_lookups_in_flight = s.resolutions_in_flight + s.resolutions_queued;
      d.dns_hits = s.counters.hits;
      d.dns_misses = s.counters.misses;
      d.dns_stale_served = s.counters.stale_served;
      d.batches_waited_on_dns = s.counters.batches_waited_on_dns;
    }
    return status;
  }

  SchedulerLoopParts parts_;
  const Config& config_;
  const Clock& clock_;
  asio::io_context io_;
  asio::steady_timer tick_timer_;
  std::unique_ptr<MetricsHttpServer> metrics_server_;
  VolumeStatus volume_status_;
  std::string volume_error_;
  SteadyClock::time_point last_volume_{};
  std::mt19937_64 random_;
  std::unique_ptr<CaresResolver> resolver_;
  std::unique_ptr<LmdbDnsCacheStore> store_;
  std::unique_ptr<DnsService> dns_;
  std::unique_ptr<DomainResolver> relay_resolver_;
  std::unique_ptr<DeliveryRoutes> routes_;
  std::unique_ptr<DeliveryEngine> delivery_;
  std::atomic<bool> stop_requested_{false};
  bool accounting_failed_ = false;
  bool stopping_ = false;
  SteadyClock::time_point stop_deadline_{};
  SteadyClock::time_point last_publish_{};
  SteadyClock::time_point last_refresh_{};
};

}  // namespace

std::unique_ptr<SchedulerLoop> SchedulerLoop::create(SchedulerLoopParts parts, std::string& error) {
  auto loop = std::make_unique<AsioSchedulerLoop>(std::move(parts));
  error = loop->build();
  if (!error.empty()) return nullptr;
  return loop;
}

}  // namespace bulkq
