#!/usr/bin/env bash
# Scenario 9: bulkqd killed with SIGKILL at random instants during delivery (DESIGN §3.4, §4:
# "bulkqd killed mid-batch: on restart every unfinished recipient is delivered; none lost;
# duplicates ≤ transactions in flight").
#   A campaign of BULKQ_CRASH_MESSAGES (default 900) messages × 1–10 recipients over 20 domains
#   (~5000 recipients) is held with delivery off; bulkqd is then restarted with delivery on, to
#   sinks that answer every command after reply_delay_ms, and killed with kill -9 at random
#   instants (0.2–1.5 s apart) BULKQ_CRASH_KILLS (default 20) times, restarted each time, then
#   left to finish.
# Checked: every planned recipient received at least once; the duplicates are counted and are at
# most the sum over the kills of sessions_open (sampled just before each kill) × batch_max_recipients;
# hold/ and the journal end empty.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 09-crash
h_need "$JOURNAL_EDIT"

messages=${BULKQ_CRASH_MESSAGES:-900}
kills=${BULKQ_CRASH_KILLS:-20}
reply_delay_ms=${BULKQ_CRASH_REPLY_DELAY_MS:-8}
domains=20
batch_max=20
max_connections=10

for k in 1 2 3 4; do dns_host "mx$k.crash.test" "127.0.0.4$k"; done
for ((j = 0; j < domains; j++)); do dns_mx "d$j.campaign.test" "mx$((j % 4 + 1)).crash.test" 10; done
DNS_TTL=600
start_dns
listeners=()
for k in 1 2 3 4; do listeners+=("127.0.0.4$k,reply_delay_ms=$reply_delay_ms"); done
start_test_sink mx "${listeners[@]}"
start_sink
start_postfix

delivery_table() {  # delivery_table true|false
  printf '[delivery]\nenabled = %s\nport = %s\nhelo_name = "bulkq.test"\nmax_connections = %s\nmax_connections_per_domain = 2\nretry_min = 1\nretry_max = 2\ndomain_backoff_min = 1\ndomain_backoff_max = 2' \
    "$1" "$TSINK_SMTP_PORT" "$max_connections"
}
dns_table="$(printf '[dns]\nservers = ["%s"]\ncache_directory = "%s"' "$DNS_SERVER" "$SCRATCH/dnscache")"
bulk_table=$'[bulk]\nheader_name = "List-Unsubscribe"'
sched_table="$(printf '[scheduler]\nbatch_max_recipients = %s' "$batch_max")"

# 1. Intake with delivery off: the whole campaign is held.
write_bulkq_toml "$SCRATCH/bulkq.toml" "$bulk_table" "$(delivery_table false)" "$dns_table" "$sched_table"
start_bulkqd
h_log "sending $messages messages over $domains domains (delivery off)"
python3 "$H_ROOT/integration/lib/campaign.py" --port "$SMTP_PORT" --messages "$messages" \
  --domains "$domains" --max-recipients 10 --connections 4 --seed 9 \
  --plan-out "$SCRATCH/plan.txt" >"$SCRATCH/campaign.log" 2>&1 ||
  h_fail "campaign failed: $(tail -3 "$SCRATCH/campaign.log")"
expected=$(wc -l <"$SCRATCH/plan.txt")
h_log "campaign: $(cat "$SCRATCH/campaign.log")"
wait_hold "$messages" 60
wait_status pending_commit -eq 0
assert_status recipients "$expected"
assert_eq "messages Postfix delivered itself (fail-open)" 0 "$(sink_count)"

# 2. Delivery on; kill -9 at random instants, restart each time.
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
write_bulkq_toml "$SCRATCH/bulkq.toml" "$bulk_table" "$(delivery_table true)" "$dns_table" "$sched_table"
start_bulkqd
sessions_open_now() {  # fast: no python between the sample and the kill
  local reply
  reply=$("$BULKQCTL" -s "$ADMIN_SOCKET" status --json 2>/dev/null) || { echo 0; return; }
  [[ "$reply" =~ \"sessions_open\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
RANDOM=${BULKQ_CRASH_SEED:-9}
bound=0
busy_kills=0
for ((n = 1; n <= kills; n++)); do
  pause_ms=$((RANDOM % 1301 + 200))
  pause=$(printf '%d.%03d' $((pause_ms / 1000)) $((pause_ms % 1000)))
  sleep "$pause"
  got=$(sink_stat mx recipients 2>/dev/null || echo '?')
  open=$(sessions_open_now)
  kill_bulkqd KILL
  bound=$((bound + open * batch_max))
  [ "$open" -gt 0 ] && busy_kills=$((busy_kills + 1))
  h_log "kill $n after ${pause}s: sessions_open=$open, sink recipients so far $got/$expected"
  start_bulkqd
done
h_log "$kills kills done, $busy_kills with sessions open; letting delivery finish"
[ "$busy_kills" -ge $((kills / 2)) ] ||
  h_fail "only $busy_kills of $kills kills landed while sessions were open: delivery too fast to test"

# 3. Everything delivered; duplicates bounded.
received_distinct() { sink_recipients_received mx | sort -u | wc -l; }
h_all_received() { [ "$(received_distinct)" -ge "$expected" ]; }
h_wait_until 150 "all $expected planned recipients at the sink (have $(received_distinct))" h_all_received
h_wait_until 60 "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
assert_status recipients 0

sink_recipients_received mx >"$SCRATCH/received.txt"
cut -d' ' -f1 "$SCRATCH/plan.txt" | sort >"$SCRATCH/planned.txt"
sort -u "$SCRATCH/received.txt" >"$SCRATCH/received-distinct.txt"
missing=$(comm -23 "$SCRATCH/planned.txt" "$SCRATCH/received-distinct.txt" | wc -l)
unplanned=$(comm -13 "$SCRATCH/planned.txt" "$SCRATCH/received-distinct.txt" | wc -l)
total=$(wc -l <"$SCRATCH/received.txt")
duplicates=$((total - $(wc -l <"$SCRATCH/received-distinct.txt")))
h_log "planned $expected, received $total deliveries of $(wc -l <"$SCRATCH/received-distinct.txt") distinct recipients"
h_log "duplicates: $duplicates; bound (sum of sessions_open × $batch_max over $kills kills): $bound"
h_log "hard cap (kills × max_connections × batch_max_recipients): $((kills * max_connections * batch_max))"
# How the duplicates arose: recipients first accepted on a connection the kill cut (EOF, no QUIT),
# or on one that ended with QUIT before bulkqd committed the session to its journal.
python3 - "${TSINK_LOG[mx]}" <<'PY' | while read -r line; do h_log "$line"; done
import collections, json, sys
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
closes = {r["conn"]: r["reason"] for r in records if r.get("event") == "close"}
first = {}
extra = collections.Counter()
for r in records:
    if "event" in r:
        continue
    for rcpt in r["rcpts"]:
        if rcpt in first:
            extra[closes.get(first[rcpt], "?")] += 1
        else:
            first[rcpt] = r["conn"]
print("sink connections by close reason: %s" % dict(collections.Counter(closes.values())))
print("duplicates by how the first delivering connection ended: %s" % dict(extra))
PY
assert_eq "planned recipients never received" 0 "$missing"
assert_eq "received recipients not in the plan" 0 "$unplanned"
[ "$duplicates" -le "$bound" ] || h_fail "$duplicates duplicate deliveries exceed the in-flight bound $bound"
h_log "ok: duplicates $duplicates <= bound $bound"

# 4. The journal is empty once everything left.
assert_bulkqd_alive
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
"$JOURNAL_EDIT" "$JOURNAL_DIR" list >"$SCRATCH/journal-after.txt" 2>&1
assert_eq "journal records after delivery" 0 "$(grep -c . "$SCRATCH/journal-after.txt" || true)"
assert_eq "files in hold/" 0 "$(hold_count)"
assert_eq "messages Postfix delivered itself (fail-open)" 0 "$(sink_count)"
