#!/usr/bin/env bash
# Scenario 14: `bulkqctl release DOMAIN | release --all` hands held mail back to Postfix, which
# delivers only the recipients bulkq has not finished, with a real Postfix, dnsmasq,
# bulkq_test_sink (bulkq's destinations) and smtp-sink (Postfix's relayhost).
#   a. four bulk messages: ok.test recipients are delivered by bulkq; wait.test's are refused with
#      450 and wait out an hour's retry; pause.test is paused, so its recipients wait in the queue.
#      M1 goes to all three domains (two of its recipients delivered by bulkq before the release).
#   b. `release wait.test` takes M1 and M2 whole: they leave hold/, Postfix (through qmgr, woken
#      at once, not cleanup: no second milter pass, no re-hold) delivers to the relayhost only
#      their unfinished recipients; bulkqctl status/queues no longer count them.
#   c. `release --all` takes the rest (M3's ok.test recipient, delivered by bulkq, is not sent
#      again); hold/, Postfix's queue and bulkq's queues end empty; every recipient was delivered
#      exactly once, by bulkq or by Postfix.
#   d. 300 messages released by one domain's request in steps (run again while some remain), all
#      delivered by Postfix. A malformed domain is a usage error (exit 2).
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 14-release

dns_mx ok.test mx.ok.test 10
dns_mx wait.test mx.wait.test 10
dns_mx pause.test mx.pause.test 10
dns_host mx.ok.test 127.0.0.41
dns_host mx.wait.test 127.0.0.42
dns_host mx.pause.test 127.0.0.43
start_dns
start_test_sink mx 127.0.0.41 127.0.0.42 127.0.0.43

start_sink
start_postfix
write_bulkq_toml "$SCRATCH/bulkq.toml" \
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
json_get() {  # json_get EXPRESSION: evaluates EXPRESSION on the JSON document `d` read from stdin
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
# The recipients Postfix delivered to the relayhost (smtp-sink's X-Rcpt-Args envelope lines).
postfix_recipients() {
  sink_files | while read -r f; do
    sed -nE 's/^X-Rcpt-Args: <([^>]*)>.*/\1/p' "$f" | tr -d '\r'
  done | sort
}
postqueue_ids() {  # the queue ids Postfix lists (postqueue -j: one JSON object per line)
  "$POSTFIX_SBIN/postqueue" -c "$PF_CONF" -j |
    python3 -c 'import json,sys; [print(json.loads(l)["queue_id"]) for l in sys.stdin if l.strip()]'
}
h_not_in_postfix_queue() { ! postqueue_ids | grep -qx -- "$1"; }
h_postfix_recipients_are() { [ "$(postfix_recipients | tr '\n' ' ')" = "$1" ]; }

# a. held, partly delivered, waiting
ctl pause pause.test >/dev/null || h_fail "bulkqctl pause failed"
from=(--from news@bulk-sender.test)
send_ok "${from[@]}" --to "a1@ok.test,a2@ok.test,t450x99-w1@wait.test,p1@pause.test"
m1=$LAST_QUEUE_ID
send_ok "${from[@]}" --to "t450x99-w2@wait.test"
m2=$LAST_QUEUE_ID
send_ok "${from[@]}" --to "p2@pause.test,b1@ok.test"
m3=$LAST_QUEUE_ID
send_ok "${from[@]}" --to "p3@pause.test"
m4=$LAST_QUEUE_ID
h_log "held: M1 $m1, M2 $m2, M3 $m3, M4 $m4"
wait_sink_stat mx recipients 3 30
h_wait_until 30 "wait.test's two recipients waiting for their retry" \
  h_ctl_has '^waiting retry: +2 \(next in [0-9]+s\)$' domain wait.test
h_wait_until 10 "pause.test: 3 waiting, paused" h_ctl_has '^pause\.test +3 +0 +.*paused$' queues
assert_eq "bulkq delivered" "a1@ok.test a2@ok.test b1@ok.test" \
  "$(sink_recipients_received mx | tr '\n' ' ' | sed 's/ $//')"
assert_eq "held files" "$(printf '%s\n' "$m1" "$m2" "$m3" "$m4" | sort | tr '\n' ' ')" \
  "$(hold_ids | tr '\n' ' ')"
assert_status messages 4

# b. release wait.test: M1 and M2, whole
out=$(ctl release wait.test --json) || h_fail "bulkqctl release wait.test failed: $out"
h_log "release wait.test: $out"
assert_eq "release wait.test counts" "2 3 0 0 0 " \
  "$(printf '%s' "$out" | json_get '" ".join(str(d[k]) for k in ("released","recipients","busy","failed","remaining")) + " " + d["error"]')"
assert_eq "release wait.test ids" "$(printf '%s\n' "$m1" "$m2" | sort | tr '\n' ' ')" \
  "$(printf '%s' "$out" | json_get '" ".join(sorted(d["queue_ids"]))') "
assert_eq "held files after release wait.test" "$(printf '%s\n' "$m3" "$m4" | sort | tr '\n' ' ')" \
  "$(hold_ids | tr '\n' ' ')"
# Delivered by Postfix without waiting for queue_run_delay (300 s): qmgr was asked to scan.
h_wait_until 30 "Postfix delivered M1's and M2's unfinished recipients to the relayhost" \
  h_postfix_recipients_are "p1@pause.test t450x99-w1@wait.test t450x99-w2@wait.test "
h_wait_until 30 "M1 gone from Postfix's queue" h_not_in_postfix_queue "$m1"
h_wait_until 30 "M2 gone from Postfix's queue" h_not_in_postfix_queue "$m2"
# Through qmgr only: one cleanup pass (and one milter hold) per message, ever.
for id in "$m1" "$m2"; do
  assert_eq "$id: cleanup passes" 1 "$(maillog_count "postfix/cleanup\[[0-9]+\]: $id: message-id=")"
  assert_eq "$id: milter holds" 1 "$(maillog_count "$id: milter-hold")"
  assert_ge "$id: qmgr picked it up" 1 "$(maillog_count "postfix/qmgr\[[0-9]+\]: $id: from=<news@bulk-sender.test>")"
done
assert_eq "M1 delivered by Postfix to" "p1@pause.test t450x99-w1@wait.test" \
  "$(grep -E "postfix/smtp\[[0-9]+\]: $m1: to=<[^>]*>.* status=sent" "$MAILLOG" |
    sed -nE 's/.* to=<([^>]*)>.*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//')"
assert_status messages 2
h_wait_until 10 "wait.test gone from bulkqctl queues" \
  bash -c "! \"$BULKQCTL\" -s \"$ADMIN_SOCKET\" queues | grep -q '^wait\.test '"
h_ctl_has '^pause\.test +2 +0 +.*paused$' queues || h_fail "queues after release: $(ctl queues)"
h_ctl_has '^waiting retry: +0' domain wait.test || h_fail "domain wait.test: $(ctl domain wait.test)"
grep -qE "$m1: released to the MTA by an administrator: 2 recipient\(s\) to deliver, 2 already finished by bulkq" \
  "$BULKQD_LOG" || h_fail "no release log line for M1 in $BULKQD_LOG"
grep -q 'next deferred-queue scan' "$BULKQD_LOG" && h_fail "qmgr was not woken: $(grep 'deferred-queue scan' "$BULKQD_LOG")"
h_log "ok: release wait.test handed M1 and M2 back; Postfix delivered only their unfinished recipients"

# c. release --all: M3 and M4; b1@ok.test (delivered by bulkq) is not sent again
out=$(ctl release --all) || h_fail "bulkqctl release --all failed: $out"
h_log "release --all: $out"
assert_eq "release --all, human form" "released 2 message(s) (2 recipient(s)) to the MTA" \
  "$(printf '%s\n' "$out" | sed -n 1p)"
h_wait_until 30 "Postfix delivered M3's and M4's unfinished recipients" \
  h_postfix_recipients_are "p1@pause.test p2@pause.test p3@pause.test t450x99-w1@wait.test t450x99-w2@wait.test "
h_wait_until 30 "Postfix's queue empty" h_queue_empty
assert_eq "hold/ after release --all" 0 "$(hold_count)"
assert_status messages 0
assert_status recipients 0
assert_eq "postqueue -p" "Mail queue is empty" "$("$POSTFIX_SBIN/postqueue" -c "$PF_CONF" -p)"

# Exactly once, by one or the other.
{
  sink_recipients_received mx
  postfix_recipients
} | sort >"$SCRATCH/delivered.txt"
assert_eq "every recipient delivered exactly once" \
  "a1@ok.test a2@ok.test b1@ok.test p1@pause.test p2@pause.test p3@pause.test t450x99-w1@wait.test t450x99-w2@wait.test" \
  "$(tr '\n' ' ' <"$SCRATCH/delivered.txt" | sed 's/ $//')"

# d. many messages: one request works in steps (at most 100 messages or 50 ms per turn of the
# scheduler's loop, 3 s per request); run again while some remain.
many=300
timeout 300 "$POSTFIX_SBIN/smtp-source" -s 4 -m "$many" -l 256 -M client.bulkq.test \
  -f news@bulk-sender.test -t many@pause.test "127.0.0.1:$SMTP_PORT" \
  >"$SCRATCH/log/smtp-source.log" 2>&1 ||
  { cat "$SCRATCH/log/smtp-source.log" >&2; h_fail "smtp-source failed"; }
wait_status messages -eq "$many" 120
wait_status pending_commit -eq 0
released=0
runs=0
while :; do
  out=$(ctl release pause.test --json) || h_fail "release pause.test failed: $out"
  runs=$((runs + 1))
  read -r n busy failed remaining <<<"$(printf '%s' "$out" |
    json_get '" ".join(str(d[k]) for k in ("released","busy","failed","remaining"))')"
  [ "$busy$failed" = 00 ] || h_fail "release pause.test: $out"
  released=$((released + n))
  [ "$remaining" -eq 0 ] && break
  [ "$runs" -lt 30 ] || h_fail "release pause.test: still $remaining remaining after $runs runs"
done
h_log "release pause.test: $released message(s) in $runs run(s)"
assert_eq "released in the end" "$many" "$released"
h_many_delivered() { [ "$(postfix_recipients | grep -cx 'many@pause.test')" -eq "$many" ]; }
h_wait_until 120 "Postfix delivered the $many released messages" h_many_delivered
h_wait_until 60 "Postfix's queue empty" h_queue_empty
assert_eq "hold/ after the many" 0 "$(hold_count)"
assert_status messages 0

# Nothing left to release; a malformed domain is a usage error.
out=$(ctl release --all --json) || h_fail "second release --all failed: $out"
assert_eq "second release --all" 0 "$(printf '%s' "$out" | json_get 'd["released"] + d["failed"] + d["busy"]')"
rc=0
out=$(ctl release 'bad domain' 2>&1) || rc=$?
assert_eq "release of a malformed domain: exit" 2 "$rc"
assert_bulkqd_alive
h_log "ok: release --all; every recipient delivered exactly once"
