#!/usr/bin/env bash
# Scenario 12: bulkqctl against a running bulkqd that delivers (queues, domain, messages, dns,
# pause, resume, flush, metrics), with a real Postfix, dnsmasq and bulkq_test_sink.
#   a. `pause held.test` before any mail for it: its mail stays queued (shown paused by `queues`
#      and `domain`, listed by `messages`) while free.test's is delivered; `resume` delivers it.
#   b. a recipient deferred by a 450 waits out retry_min (an hour): `domain` shows it waiting;
#      `flush retry.test` sends it at once.
#   c. `dns free.test` shows the cached MX host and its address; `metrics` is Prometheus text
#      with the sent count; a malformed domain is a usage error (exit 2) (release: scenario 14).
#   d. `reload`: a file with an error changes nothing (exit 1, the error names the key); a good
#      one applies [shaping] at once (free.test's next mail goes under its new static limits,
#      shown by `domain`) and names the change that waits for a restart; SIGHUP does the same.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 12-admin

for d in held free retry; do
  dns_mx "$d.test" "mx.$d.test" 10
done
dns_host mx.held.test 127.0.0.31
dns_host mx.free.test 127.0.0.32
dns_host mx.retry.test 127.0.0.33
start_dns
start_test_sink mx 127.0.0.31 127.0.0.32 127.0.0.33

start_sink
start_postfix
h_free_port METRICS_PORT
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  "$(printf '[admin]\nsocket = "%s"\nmetrics_listen = "127.0.0.1:%s"' "$SCRATCH/run/admin.sock" "$METRICS_PORT")" \
  "$(printf '%s\n' '[delivery]' "port = $TSINK_SMTP_PORT" 'helo_name = "bulkq.test"' \
    'retry_min = 3600' 'retry_max = 7200')" \
  "$(printf '%s\n' '[dns]' "servers = [\"$DNS_SERVER\"]" "cache_directory = \"$SCRATCH/dnscache\"")"
start_bulkqd

ctl() { "$BULKQCTL" -s "$ADMIN_SOCKET" "$@"; }
h_ctl_has() {  # h_ctl_has PATTERN ARGS...: bulkqctl ARGS prints a line matching PATTERN
  local pattern=$1
  shift
  ctl "$@" 2>/dev/null | grep -qE -- "$pattern"
}

# a. pause, then mail: held back; resume: delivered
out=$(ctl pause held.test) || h_fail "bulkqctl pause failed: $out"
assert_eq "pause reply" "paused held.test (until resumed, or bulkqd restarts)" "$out"
send_ok --from news@bulk-sender.test --to "a@held.test,b@held.test,c@free.test"
wait_sink_stat mx recipients 1 30
h_wait_until 10 "held.test queued and paused in bulkqctl queues" \
  h_ctl_has '^held\.test +2 +0 +.*paused$' queues
assert_eq "sink recipients while paused" "c@free.test" "$(sink_recipients_received mx | tr '\n' ' ' | sed 's/ $//')"
json=$(ctl domain held.test --json) || h_fail "bulkqctl domain failed: $json"
assert_eq "domain held.test waiting, paused" "2 True" "$(printf '%s' "$json" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["domain"]; print(d["queue"]["waiting"], d["paused"])')"
ctl domain held.test | grep -q '^paused: *yes$' || h_fail "bulkqctl domain does not show the pause"
held_id=$LAST_QUEUE_ID
ctl messages held.test | grep -qE "^$held_id +[0-9]+ +2 +0 +[0-9]+s +<news@bulk-sender\.test>$" ||
  h_fail "bulkqctl messages held.test: $(ctl messages held.test)"
ctl messages held.test | grep -q '^1 message(s) waiting for held.test; page 1 of 1$' ||
  h_fail "bulkqctl messages held.test footer: $(ctl messages held.test)"
out=$(ctl resume held.test) || h_fail "bulkqctl resume failed: $out"
assert_eq "resume reply" "resumed held.test" "$out"
wait_sink_stat mx recipients 3 30
h_log "ok: paused held.test waited; resumed, delivered"

# b. a 450 waits an hour; flush sends it now
send_ok --from news@bulk-sender.test --to "t450-x@retry.test"
h_wait_until 30 "retry.test waiting for its retry" \
  h_ctl_has '^waiting retry: +1 \(next in [0-9]+s\)$' domain retry.test
ctl domain retry.test | grep -qE '^  .* deferred 4\.[0-9.]+ ' ||
  h_fail "bulkqctl domain shows no deferred reply: $(ctl domain retry.test)"
out=$(ctl flush retry.test) || h_fail "bulkqctl flush failed: $out"
assert_eq "flush reply" \
  "flushed retry.test: 1 recipient(s) waiting for a retry queued again, backoff ended" "$out"
wait_sink_stat mx recipients 4 30
h_log "ok: flush sent the deferred recipient at once"

# c. dns, metrics, refusals
ctl dns free.test | grep -qE '^  mx\.free\.test \(preference 10\): 127\.0\.0\.32$' ||
  h_fail "bulkqctl dns free.test: $(ctl dns free.test)"
h_wait_until 10 "metrics count the four sent" \
  h_ctl_has '^bulkq_recipients_total\{outcome="sent"\} 4$' metrics
ctl metrics | grep -q '^# TYPE bulkq_volume_messages gauge$' || h_fail "metrics lack the volume gauges"
# The same metrics over HTTP; other paths and methods refused.
http_get() {  # http_get METHOD PATH: prints "STATUS\nBODY"
  python3 - "$1" "$2" "$METRICS_PORT" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[3]), timeout=10)
c.request(sys.argv[1], sys.argv[2])
r = c.getresponse()
print(r.status)
print(r.getheader("Content-Type"))
sys.stdout.write(r.read().decode())
PY
}
out=$(http_get GET /metrics) || h_fail "GET /metrics failed: $out"
assert_eq "GET /metrics status" 200 "$(printf '%s\n' "$out" | sed -n 1p)"
assert_eq "GET /metrics type" "text/plain; version=0.0.4; charset=utf-8" "$(printf '%s\n' "$out" | sed -n 2p)"
printf '%s\n' "$out" | grep -q '^bulkq_recipients_total{outcome="sent"} 4$' ||
  h_fail "GET /metrics lacks the sent count: $(printf '%s\n' "$out" | head -5)"
assert_eq "GET /other status" 404 "$(http_get GET /other | sed -n 1p)"
assert_eq "POST /metrics status" 405 "$(http_get POST /metrics | sed -n 1p)"
rc=0
out=$(ctl pause 'bad domain' 2>&1) || rc=$?
assert_eq "pause of a malformed domain: exit" 2 "$rc"

# d. reload
cp "$SCRATCH/bulkq.toml" "$SCRATCH/bulkq.toml.good"
printf '\n[shaping]\nmax_rate = -1\n' >>"$SCRATCH/bulkq.toml"
rc=0
out=$(ctl reload 2>&1) || rc=$?
assert_eq "reload of a bad file: exit" 1 "$rc"
printf '%s' "$out" | grep -q 'shaping.max_rate: -1 is out of range' || h_fail "bad reload: $out"
sed 's/^helo_name = "bulkq.test"$/helo_name = "renamed.test"/' "$SCRATCH/bulkq.toml.good" \
  >"$SCRATCH/bulkq.toml"
printf '\n[shaping.domain."free.test"]\nmax_rate = 5\nadaptive = false\n' >>"$SCRATCH/bulkq.toml"
out=$(ctl reload) || h_fail "reload failed: $out"
printf '%s' "$out" | grep -q ': applied shaping; waiting for a restart: delivery.helo_name$' ||
  h_fail "reload reply: $out"
send_ok --from news@bulk-sender.test --to "d@free.test,e@free.test"
wait_sink_stat mx recipients 6 30
json=$(ctl domain free.test --json) || h_fail "bulkqctl domain free.test failed: $json"
assert_eq "free.test shaping after reload" "free.test False 5" "$(printf '%s' "$json" |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["domain"]["shaping"]; print(s["policy"], s["adaptive"], s["max_rate"])')"
ctl domain free.test | grep -q '^shaping: *[a-z_]* (static limits, policy free.test)$' ||
  h_fail "bulkqctl domain free.test shaping: $(ctl domain free.test)"
kill -HUP "$BULKQD_PID"
h_wait_until 10 "SIGHUP reload logged" grep -q \
  'reloaded .*: nothing to apply; waiting for a restart: delivery.helo_name' "$BULKQD_LOG"
h_log "ok: reload applied shaping, refused a bad file, named the restart-only change"
assert_bulkqd_alive
