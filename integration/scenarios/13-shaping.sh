#!/usr/bin/env bash
# Scenario 13: adaptive shaping learns a destination's rate limit.
#   slow.test's MX (127.0.0.41) is a bulkq_test_sink listener with rate=R (default 40): it
#   accepts at most R transactions per second and answers any MAIL FROM beyond that with
#   "451 4.7.1 Too many messages, slow down". f0.test–f3.test share an unlimited MX (127.0.0.42).
#   Two campaigns go into Postfix at once: BULKQ_SHAPING_MESSAGES (default 1600) single-recipient
#   messages to slow.test (≈ 40 s at R) and 400 messages × 1–3 recipients to the four others.
#   No static max_rate anywhere: bulkq has to find R itself.
# Checked:
#   - nothing lost: every recipient received exactly once (the sink's log against the plans),
#     hold/ and bulkqd's queues empty, nothing bounced;
#   - slow.test's acceptance rate, from the sink's "t" stamps between its 50% and 95% marks, is
#     within ±20% of R (printed, with its per-5-second profile);
#   - the sink refused some (rate_rejected > 0: bulkq pushed up to the limit), printed per 1000
#     messages; in the measured stretch fewer than 500 per 1000 (bulkq backed off: a sender
#     that ignored the 4xx would provoke many more refusals than acceptances);
#   - while the campaign runs, `bulkqctl domain slow.test --json` shows a "shaping" object with
#     a numeric "rate" and a "state", and the human view a line that says shaping;
#   - the unlimited domains finished before slow.test was half done.
# The [shaping] table written is BULKQ_SHAPING_TABLE (default: adaptive = true, the other keys
# at their defaults); set it empty to write none, or e.g. $'[shaping]\nadaptive = false' to see
# the checks fail without the controller.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 13-shaping

rate=${BULKQ_SHAPING_RATE:-40}
slow_messages=${BULKQ_SHAPING_MESSAGES:-1600}
fast_messages=400
shaping_table=${BULKQ_SHAPING_TABLE-$'[shaping]\nadaptive = true'}
# The slowest acceptable finish: twice the time at R, plus a margin (the scenario's own limit
# is BULKQ_SCENARIO_TIMEOUT, 180 s by default in integration/run).
deliver_timeout=$(awk -v n="$slow_messages" -v r="$rate" 'BEGIN { printf "%d", 2 * n / r + 30 }')

dns_mx slow.test mx.slow.test 10
dns_host mx.slow.test 127.0.0.41
for k in 0 1 2 3; do dns_mx "f$k.test" mx.fast.test 10; done
dns_host mx.fast.test 127.0.0.42
start_dns
# shellcheck disable=SC2034  # read by start_test_sink: the log is enough, no message files
TSINK_STORE=0
start_test_sink mx "127.0.0.41,rate=$rate" 127.0.0.42
slow_listener=127.0.0.41:$TSINK_SMTP_PORT
fast_listener=127.0.0.42:$TSINK_SMTP_PORT

start_sink
start_postfix
# Recipients refused by the rate limit come back after 1–2 s, not retry_min's default 300 s.
toml_extra=()
[ -n "$shaping_table" ] && toml_extra+=("$shaping_table")
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  $'[bulk]\nheader_name = "List-Unsubscribe"' \
  "$(printf '%s\n' '[delivery]' "port = $TSINK_SMTP_PORT" 'helo_name = "bulkq.test"' \
    'retry_min = 1' 'retry_max = 2' 'domain_backoff_min = 1' 'domain_backoff_max = 2')" \
  "$(printf '%s\n' '[dns]' "servers = [\"$DNS_SERVER\"]" "cache_directory = \"$SCRATCH/dnscache\"")" \
  "${toml_extra[@]}"
start_bulkqd

ctl() { "$BULKQCTL" -s "$ADMIN_SOCKET" "$@"; }

# ---------------------------------------------------------------------------------------------
# The campaigns, in the background: slow.test alone, and f0–f3.test.
campaign_start=$(date +%s.%N)
h_log "sending $slow_messages messages to slow.test (MX rate=$rate/s) and $fast_messages to f0–f3.test"
# "%.0s" swallows the domain number: every recipient is userN@slow.test.
python3 "$H_ROOT/integration/lib/campaign.py" --port "$SMTP_PORT" --messages "$slow_messages" \
  --domains 1 --domain-format 'slow%.0s.test' --max-recipients 1 --connections 4 --seed 13 \
  --plan-out "$SCRATCH/plan-slow.txt" >"$SCRATCH/campaign-slow.log" 2>&1 &
slow_pid=$!
h_on_exit "h_stop_pid $slow_pid slow-campaign 5"
python3 "$H_ROOT/integration/lib/campaign.py" --port "$SMTP_PORT" --messages "$fast_messages" \
  --domains 4 --domain-format 'f%d.test' --max-recipients 3 --connections 2 --seed 14 \
  --plan-out "$SCRATCH/plan-fast.txt" >"$SCRATCH/campaign-fast.log" 2>&1 &
fast_pid=$!
h_on_exit "h_stop_pid $fast_pid fast-campaign 5"

# While slow.test's mail flows: its shaping state, as JSON and as the human view.
# h_shaping_shown: `domain slow.test --json` has a "shaping" object (top level or in "domain")
# with a numeric rate and a state; the reply is kept in $SCRATCH/shaping.json.
h_shaping_shown() {
  ctl domain slow.test --json >"$SCRATCH/domain.json" 2>/dev/null || return 1
  python3 - "$SCRATCH/domain.json" <<'PY' >"$SCRATCH/shaping.json" 2>/dev/null
import json, sys
reply = json.load(open(sys.argv[1]))
shaping = reply.get("shaping")
if shaping is None and isinstance(reply.get("domain"), dict):
    shaping = reply["domain"].get("shaping")
assert reply.get("ok") is True and isinstance(shaping, dict)
rate = shaping.get("rate")
assert isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0
assert shaping.get("state") in ("probing", "steady", "backing_off", "suspended")
print(json.dumps(shaping))
PY
}
h_shaping_line() {
  ctl domain slow.test >"$SCRATCH/domain.txt" 2>/dev/null && grep -qi shaping "$SCRATCH/domain.txt"
}
if ! h_try_until 60 h_shaping_shown; then
  h_fail "bulkqctl domain slow.test --json never showed a shaping object with a numeric rate and a state within 60s; last reply: $(cut -c1-600 "$SCRATCH/domain.json" 2>/dev/null)"
fi
h_log "ok: bulkqctl domain slow.test --json: shaping $(cat "$SCRATCH/shaping.json")"
if ! h_try_until 30 h_shaping_line; then
  h_fail "bulkqctl domain slow.test shows no shaping line; last output: $(cat "$SCRATCH/domain.txt" 2>/dev/null)"
fi
h_log "ok: bulkqctl domain slow.test: $(grep -i shaping "$SCRATCH/domain.txt" | head -3 | tr '\n' '|')"
# It was taken while slow.test still had mail to send.
[ "$(sink_stat mx transactions "$slow_listener")" -lt "$slow_messages" ] ||
  h_fail "slow.test was done before its shaping state showed: nothing was checked while it ran"

for which in slow fast; do
  pid=$slow_pid
  [ "$which" = fast ] && pid=$fast_pid
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] ||
    h_fail "the $which campaign failed (exit $rc): $(tail -3 "$SCRATCH/campaign-$which.log")"
done
h_log "campaigns: slow.test $(cat "$SCRATCH/campaign-slow.log"); f0–f3.test $(cat "$SCRATCH/campaign-fast.log")"

# ---------------------------------------------------------------------------------------------
# Nothing lost: every recipient exactly once.
cat "$SCRATCH/plan-slow.txt" "$SCRATCH/plan-fast.txt" | cut -d' ' -f1 | sort >"$SCRATCH/planned.txt"
expected=$(wc -l <"$SCRATCH/planned.txt")
h_log "waiting (at most ${deliver_timeout}s) for $expected recipients at the sink"
wait_sink_stat mx recipients "$expected" "$deliver_timeout"
h_wait_until 60 "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
assert_status recipients 0
assert_status delivery.bounced 0
stop_test_sink mx  # flushes its log
sink_recipients_received mx >"$SCRATCH/received.txt"
assert_eq "duplicate recipients at the sink" 0 "$(uniq -d "$SCRATCH/received.txt" | wc -l)"
if ! cmp -s "$SCRATCH/planned.txt" "$SCRATCH/received.txt"; then
  diff "$SCRATCH/planned.txt" "$SCRATCH/received.txt" | head -20
  h_fail "the recipients received differ from those sent"
fi
h_log "ok: all $expected recipients received exactly once"

# ---------------------------------------------------------------------------------------------
# The rate, the refusals, the order of finishing: from the sink's log.
python3 - "${TSINK_LOG[mx]}" "$slow_listener" "$fast_listener" "$rate" "$campaign_start" <<'PY' ||
import json, sys
path, slow, fast, rate, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
accepted = {slow: [], fast: []}
refused = []
for line in open(path, encoding="utf-8"):
    r = json.loads(line)
    listener = r.get("listener")
    if r.get("event") == "rate_rejected" and listener == slow:
        refused.append(r["t"])
    elif "event" not in r and listener in accepted:
        accepted[listener].append(r["t"])
s, f = sorted(accepted[slow]), sorted(accepted[fast])
refused.sort()
n = len(s)
failures = []
print("slow.test: %d transactions from +%.1f s to +%.1f s; f0-f3.test: %d from +%.1f s to +%.1f s"
      % (n, s[0] - start, s[-1] - start, len(f), f[0] - start, f[-1] - start))
profile = []
t = s[0]
while t <= s[-1]:
    profile.append(str(sum(1 for x in s if t <= x < t + 5)))
    t += 5
print("slow.test transactions per 5 s from its first: " + " ".join(profile))
# The steady stretch: from the 50% to the 95% mark of its deliveries (the last 5% may be the
# retries of refused recipients, trickling in after their backoff).
a, b = n // 2, (n * 95) // 100
measured = (b - a) / (s[b] - s[a])
print("slow.test steady rate (deliveries %d..%d, +%.1f..+%.1f s): %.1f msg/s = %.2f R (R = %g)"
      % (a, b, s[a] - start, s[b] - start, measured, measured / rate, rate))
if not 0.8 * rate <= measured <= 1.2 * rate:
    failures.append("steady rate %.1f msg/s is not within 20%% of R = %g" % (measured, rate))
in_stretch = sum(1 for x in refused if s[a] <= x <= s[b])
print("4xx (rate_rejected) for slow.test: %d in all = %.0f per 1000 messages; %d in the steady "
      "stretch = %.0f per 1000" % (len(refused), 1000.0 * len(refused) / n, in_stretch,
                                   1000.0 * in_stretch / (b - a)))
if not refused:
    failures.append("the sink refused nothing: bulkq never reached the limit")
if 1000.0 * in_stretch / (b - a) >= 500:
    failures.append("%d refusals for %d deliveries in the steady stretch: bulkq did not back off"
                    % (in_stretch, b - a))
half = s[n // 2]
print("f0-f3.test finished at +%.1f s; slow.test half done at +%.1f s, finished at +%.1f s"
      % (f[-1] - start, half - start, s[-1] - start))
if f[-1] > half:
    failures.append("the unlimited domains finished after slow.test was half done")
for failure in failures:
    print("FAIL: " + failure)
sys.exit(1 if failures else 0)
PY
  h_fail "slow.test's shaping figures are off (see above)"
assert_eq "rate_rejected of the unlimited listener" 0 "$(sink_stat mx rate_rejected "$fast_listener")"
h_log "bulkqd delivery: $(status_field delivery.sent delivery.deferred delivery.bounced delivery.connections | tr '\n' ' ')(sent deferred bounced connections)"
assert_bulkqd_alive
