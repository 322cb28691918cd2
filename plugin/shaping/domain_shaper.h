// DomainShaper: how fast one destination may be sent to right now, learnt from how it answers.
//
// Within static limits (ShapingLimits: at most max_connections connections and max_rate
// messages per second), the shaper measures the destination — 4xx share, connection failures,
// transaction latency, acceptance rate — and moves its concurrency and rate the way TCP moves a
// congestion window: additive increase, multiplicative decrease (AIMD), once per window.
//
// The control law
//   Window: the measurements since the last decision. It closes after window_transactions
//     transactions once it has lasted min_window_time (a shorter one measures a rate badly), or
//     after window_time, whichever comes first; connection_failure_threshold connection failures
//     close it at once (the window after a decrease still lasts min_window_time). The window
//     after a decrease also closes early once a quarter of window_transactions came back
//     without a 4xx: it only has to show that the decrease was enough. A window with too few
//     transactions to judge (fewer than a quarter of window_transactions, unless the rate held
//     it back) decides nothing.
//   Decrease (the destination pushed back: the window's 4xx share is above
//     deferred_share_threshold, or it saw connection_failure_threshold connection failures):
//       base = the rate actually offered in the window (the rate, or less when fewer messages
//              were sent; when unlimited, what was sent; initial_rate when nothing was measured)
//       4xx share:  rate = max(base * decrease_factor, min(base, taken)), where taken is the
//                   window's rate of 2xx and 5xx replies: a destination that clearly showed how
//                   much it takes is not cut below that. When the rate was unlimited, the first
//                   decrease sets it to taken.
//                   concurrency = max(concurrency * decrease_factor, rate * mean latency + 1),
//                   since fewer connections than the rate needs would lower it a second time.
//       failures:   rate = base * decrease_factor; concurrency = concurrency * decrease_factor.
//   Rules (ResponseRules): scale_rate sets rate = base * factor (concurrency unchanged); suspend
//     stops all starts until now + T (always) and decreases like connection failures. A rule's
//     decrease happens at most once per window and never in the window that follows a
//     decrease: replies then still answer messages sent at the old speed, and one reaction per
//     round trip is the TCP lesson (a burst of 30 "rate limited" replies is one signal).
//   Increase (otherwise, unless the window's mean latency rose above latency_rise times its
//     baseline, which holds everything where it is): concurrency + 1; and, when the rate was
//     what held the window back, rate + step, where step = increase_step * the rate of the last
//     pushback (or max_rate, or the rate itself), at least min_rate. Below the last pushback
//     rate the step grows to half the distance to it (it worked until just before), but never
//     beyond a doubling of the rate in one window.
//   Always: min_rate <= rate <= max_rate, 1 <= concurrency <= max_connections, no division by
//     zero (a window lasts at least 1 ms). Outcomes of transactions started before the last
//     decrease are ignored: they say nothing about the new speed.
//   Unlimited: without max_rate the rate starts unlimited and only becomes a number when the
//     destination first pushes back; it becomes unlimited again after
//     unlimited_after_windows clean windows in a row (no 4xx at all) at a rate above the
//     highest acceptance rate ever measured.
//
// Pure and single-threaded: no clock, no I/O; every input carries `now`. Owned by the scheduler
// thread, next to the destination's queue. The caller counts its own connections and asks
// concurrency() before opening one, and may_start_message() before each message.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "shaping/response_rules.h"
#include "shaping/token_bucket.h"

namespace bulkq {

struct ShapingLimits {
  // Static limits, from the configuration.
  std::uint32_t max_connections = 8;
  std::optional<double> max_rate;  // messages per second; none = unlimited

  // Where a destination starts.
  std::uint32_t initial_connections = 2;
  // The starting rate when max_rate is set (at most max_rate); without max_rate, the rate a
  // destination gets if it pushes back before any rate was measured.
  double initial_rate = 10.0;
  double min_rate = 0.1;  // the floor (messages per second), never undercut

  // The measurement window.
  std::uint32_t window_transactions = 20;
  Duration min_window_time = std::chrono::seconds(1);
  Duration window_time = std::chrono::seconds(10);

  // The control law.
  double increase_step = 0.05;             // fraction of the reference rate added per window
  double decrease_factor = 0.5;            // multiplicative decrease, 0 < f < 1
  double deferred_share_threshold = 0.05;  // 4xx share of a window above which it decreases
  std::uint32_t connection_failure_threshold = 2;  // per window
  double latency_rise = 2.0;  // window mean latency over baseline that holds increases
  std::uint32_t unlimited_after_windows = 5;
  // The token bucket holds this long a stretch of the rate (and at least one message): enough
  // for a scheduler that wakes every few milliseconds, too little to flood a destination.
  Duration burst = std::chrono::milliseconds(200);
};

// Empty when `limits` is usable; otherwise what is wrong with it, for the configuration error.
[[nodiscard]] std::string shaping_limits_error(const ShapingLimits& limits);

// One transaction's outcome as far as speed is concerned. A 4xx plainly about one recipient
// (452 4.2.2 mailbox full, a greylisting deferral) says nothing about speed either; the caller
// may report it as permanent, or a greylisting destination would look like one pushing back.
enum class TransactionResult : std::uint8_t {
  accepted,   // 2xx
  temporary,  // 4xx: possibly too fast
  permanent,  // 5xx: about the message or recipient, says nothing about speed
};

enum class ShapingState : std::uint8_t {
  probing,      // the last window increased concurrency or rate
  steady,       // at the limits, or holding (latency rose, nothing to learn)
  backing_off,  // the last decision decreased; until a window says otherwise
  suspended,    // a rule stopped the destination until suspended_until
};

[[nodiscard]] std::string_view to_string(ShapingState state);  // "backing_off"
[[nodiscard]] std::string_view to_string(TransactionResult result);

// What bulkqctl domain shows.
struct ShapingSnapshot {
  ShapingState state = ShapingState::probing;
  std::uint32_t concurrency = 1;
  std::optional<double> rate;             // messages per second; none = unlimited
  double deferred_share = 0;              // 4xx share in the current window (0 when it has none)
  std::uint32_t window_transactions = 0;  // transactions counted in the current window
  Duration mean_latency{0};  // current window's; the last judged window's when it has none
  std::optional<TimePoint> suspended_until;  // set while suspended
  std::uint64_t decreases = 0;
  std::uint64_t increases = 0;
};

class DomainShaper {
 public:
  // A `limits` that fails shaping_limits_error() is still used safely: each bad value is
  // replaced by its default (a max_rate that is not positive becomes min_rate).
  explicit DomainShaper(ShapingLimits limits, TimePoint now);

  // Inputs.
  void on_transaction(TimePoint now, Duration latency, TransactionResult result);
  // A refused or timed-out connection, a TLS failure, a 421 at the greeting.
  void on_connection_failure(TimePoint now);
  // A rule ResponseRules::match() found for one of the destination's replies. bounce rules are
  // the recipient's business and change nothing here.
  void on_response_rule(TimePoint now, const ResponseRule& rule);

  // Outputs.
  [[nodiscard]] std::uint32_t concurrency() const { return concurrency_; }  // 1..max_connections
  [[nodiscard]] std::optional<double> rate() const { return rate_; }        // none = unlimited
  // Takes a token when a message may start now: false while suspended or when the rate's token
  // bucket is empty. Call it once per message, just before starting it.
  [[nodiscard]] bool may_start_message(TimePoint now);
  // The earliest time may_start_message() can say yes (`now` when it would now); the end of a
  // suspension at the soonest. TimePoint::max() never happens: the rate has a positive floor.
  [[nodiscard]] TimePoint next_allowed(TimePoint now) const;
  // As of the last input; snapshot(now) also sees a suspension that has run out since.
  [[nodiscard]] ShapingState state() const { return state_; }
  [[nodiscard]] ShapingSnapshot snapshot(TimePoint now) const;
  [[nodiscard]] const ShapingLimits& limits() const { return limits_; }

 private:
  // The measurements since the last decision. Latency sums cover accepted and 4xx transactions.
  struct Window {
    TimePoint start{};
    bool follows_decrease = false;
    std::uint32_t accepted = 0;
    std::uint32_t temporary = 0;
    std::uint32_t permanent = 0;
    std::uint32_t connection_failures = 0;
    std::int64_t latency_ms = 0;
    [[nodiscard]] std::uint32_t transactions() const { return accepted + temporary + permanent; }
    [[nodiscard]] std::uint32_t judged() const { return accepted + temporary; }
  };

  enum class Cause : std::uint8_t { deferrals, connection_failures, rule_scale, rule_suspend };

  void resume_if_due(TimePoint now);
  void close_window_if_due(TimePoint now);
  void decide(TimePoint now);
  void decrease(TimePoint now, Cause cause, double factor);
  void increase(TimePoint now, bool rate_bound, bool no_deferrals, double peak_before);
  void restart_window(TimePoint now, bool follows_decrease);
  void apply_rate(TimePoint now);
  void enter_state(ShapingState next);

  [[nodiscard]] double rate_floor() const;
  [[nodiscard]] std::uint32_t min_evidence() const;          // transactions a window needs to judge
  [[nodiscard]] double window_seconds(TimePoint now) const;  // at least 1 ms
  // The window lasted long enough, with enough transactions, for its rates to mean something.
  [[nodiscard]] bool window_measures(TimePoint now) const;
  // The window's sent / taken (2xx or 5xx) rate when it has evidence, else the last judged
  // window's; 0 when nothing was ever measured.
  [[nodiscard]] double offered_rate(TimePoint now) const;
  [[nodiscard]] double taken_rate(TimePoint now) const;
  [[nodiscard]] Duration window_mean_latency() const;

  ShapingLimits limits_;
  std::uint32_t concurrency_;
  std::optional<double> rate_;
  TokenBucket bucket_;
  ShapingState state_ = ShapingState::probing;
  TimePoint suspended_until_{};
  TimePoint last_decrease_ = TimePoint::min();
  Window window_;

  double pushback_rate_ = 0;    // the rate when the destination last pushed back; 0 = never
  double peak_taken_rate_ = 0;  // the highest acceptance rate any window measured
  double last_offered_rate_ = 0;
  double last_taken_rate_ = 0;
  Duration last_mean_latency_{0};
  double baseline_latency_ms_ = 0;  // 0 = not measured yet
  std::uint32_t clean_windows_above_peak_ = 0;
  std::uint64_t decreases_ = 0;
  std::uint64_t increases_ = 0;
};

}  // namespace bulkq
