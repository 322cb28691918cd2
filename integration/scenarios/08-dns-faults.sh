#!/usr/bin/env bash
# Scenario 8: DNS faults on the delivery path (DESIGN §3.5, §3.6, §4), against dnsmasq on loopback.
#   nx.test       NXDOMAIN        → bounced (5.x.x, NXDOMAIN wording); a DSN (multipart/report,
#                                   Action: failed, the recipient) goes through Postfix to the
#                                   sender's mailbox (the harness's smtp-sink, Postfix's relayhost);
#                                   the held file leaves hold/.
#   nullmx.test   MX 0 .          → bounced likewise (5.1.10 / null MX wording), DSN delivered.
#   implicit.test A record only   → delivered to that address (implicit MX).
#   sf.test       SERVFAIL        → deferred (status=deferred, the domain backs off, nothing
#                                   bounced); once dnsmasq answers an MX for it → delivered.
#   warm.test     resolved once (cache warm), then dnsmasq stopped → more mail still delivered
#                 from the cache; bulkqd restarted with DNS still down → still delivered (the LMDB
#                 cache at [dns] cache_directory survived), dns_misses 0 and dns_hits > 0 after
#                 the restart.
#   delivery.batches_waited_on_dns > 0 after the first cold batch.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 08-dns-faults

# Long TTLs: the warm answers must stay fresh for the whole run (the cache is what is tested,
# not serve-stale).
DNS_TTL=600
MX_ADDR=127.0.0.31
IMPLICIT_ADDR=127.0.0.32
SENDER=news@bulk-sender.test   # bulk by the harness's default rule; Postfix relays its DSNs to smtp-sink

dns_host mx1.dnsfaults.test "$MX_ADDR"
dns_mx warm.test mx1.dnsfaults.test 10
dns_nxdomain nx.test
dns_null_mx nullmx.test
dns_host implicit.test "$IMPLICIT_ADDR"
dns_servfail sf.test
start_dns
start_test_sink mx "$MX_ADDR" "$IMPLICIT_ADDR"
start_sink
start_postfix

# DSNs go to this instance's SMTP listener (delivery.dsn_relay): Postfix's sendmail refuses
# `-C` for a second instance unless run by root.
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  "$(printf '[delivery]\nport = %s\nhelo_name = "bulkq.test"\nretry_min = 1\nretry_max = 2\ndomain_backoff_min = 1\ndomain_backoff_max = 2\ndsn_relay = "127.0.0.1:%s"' \
    "$TSINK_SMTP_PORT" "$SMTP_PORT")" \
  "$(printf '[dns]\nservers = ["%s"]\ncache_directory = "%s"\ntimeout = 500\nfailure_ttl = 1\nrefresh_ahead = 10\nipv6 = false' \
    "$DNS_SERVER" "$SCRATCH/dnscache")"
start_bulkqd

# Helpers (local to this scenario).
received_count() {  # received_count ADDRESS: how often the mx sink accepted ADDRESS
  sink_recipients_received mx | grep -cxF -- "$1" || true
}
h_received() { [ "$(received_count "$1")" -ge 1 ]; }
wait_received() {  # wait_received ADDRESS [SECONDS]
  h_wait_until "${2:-$H_TIMEOUT}" "$1 received at the test sink" h_received "$1"
}
h_queue_id_gone() { ! hold_ids | grep -qxF -- "$1"; }
# dsn_for ADDRESS: the DSN files at smtp-sink (the sender's mailbox) that report on ADDRESS.
dsn_for() { sink_find "^Final-Recipient: rfc822; ?$1"; }
h_dsn_for() { [ -n "$(dsn_for "$1")" ]; }
check_dsn() {  # check_dsn ADDRESS STATUS-REGEX
  local file
  h_wait_until "$H_TIMEOUT" "a DSN for $1 at smtp-sink (the sender's mailbox)" h_dsn_for "$1"
  file=$(dsn_for "$1" | head -n 1)
  grep -qaiE '^Content-Type: multipart/report;.*report-type="?delivery-status' "$file" ||
    grep -qaiE '^Content-Type: multipart/report' "$file" ||
    h_fail "DSN $file for $1 is not multipart/report"
  grep -qaE "^Action: failed" "$file" || h_fail "DSN $file for $1 has no 'Action: failed'"
  grep -qaE "^Status: $2" "$file" || h_fail "DSN $file for $1: no 'Status: $2' ($(grep -a '^Status:' "$file"))"
  # smtp-sink's own headers carry the envelope: X-Mail-Args (MAIL FROM), X-Rcpt-Args (RCPT TO).
  grep -qaE "^X-Rcpt-Args: <$SENDER>" "$file" || h_fail "DSN $file is not addressed to <$SENDER>"
  grep -qaE '^X-Mail-Args: <>' "$file" || h_fail "DSN $file does not come from the null sender"
  grep -qaE "^Subject: .*(Undeliver|failure|Returned)" "$file" || h_fail "DSN $file: unexpected Subject"
  h_log "ok: DSN for $1 at smtp-sink: $(basename "$file") ($(grep -a -m1 '^Status:' "$file"))"
}

# ---------------------------------------------------------------------------------------------
# 1. Cold batches: the warm-up domain and the implicit MX.
send_ok --from "$SENDER" --to a1@warm.test
q_warm1=$LAST_QUEUE_ID
wait_received a1@warm.test
h_wait_until "$H_TIMEOUT" "held file $q_warm1 gone" h_queue_id_gone "$q_warm1"
waited=$(status_field delivery.batches_waited_on_dns)
assert_ge "delivery.batches_waited_on_dns after the first cold batch" 1 "$waited"
assert_grep "status=sent for a1@warm.test via mx1" \
  "to=<a1@warm\.test>, relay=mx1\.dnsfaults\.test\[$MX_ADDR\]:[0-9]+,.*status=sent" "$BULKQD_LOG"

send_ok --from "$SENDER" --to i1@implicit.test
q_impl=$LAST_QUEUE_ID
wait_received i1@implicit.test
got=$(sink_stat mx recipients "$IMPLICIT_ADDR:$TSINK_SMTP_PORT")
assert_eq "recipients received on the implicit MX address $IMPLICIT_ADDR" 1 "$got"
assert_grep "status=sent for i1@implicit.test to its A address" \
  "to=<i1@implicit\.test>, relay=[^,]*\[$IMPLICIT_ADDR\]:[0-9]+,.*status=sent" "$BULKQD_LOG"
h_wait_until "$H_TIMEOUT" "held file $q_impl gone" h_queue_id_gone "$q_impl"

# ---------------------------------------------------------------------------------------------
# 2. Permanent DNS failures bounce, with a DSN to the sender.
send_ok --from "$SENDER" --to n1@nx.test
q_nx=$LAST_QUEUE_ID
wait_bulkqd_log "to=<n1@nx\.test>,.*status=bounced"
line=$(grep -E "to=<n1@nx\.test>,.*status=bounced" "$BULKQD_LOG" | head -n 1)
h_log "nx.test: $line"
[[ "$line" =~ dsn=5\.[0-9]+\.[0-9]+, ]] || h_fail "nx.test bounce without a 5.x.x dsn: $line"
[[ "$line" =~ (does\ not\ exist|NXDOMAIN|not\ found) ]] || h_fail "nx.test bounce without NXDOMAIN wording: $line"
wait_bulkqd_log "$q_nx: sender non-delivery notification"
check_dsn n1@nx.test '5\.[0-9]+\.[0-9]+'
h_wait_until "$H_TIMEOUT" "held file $q_nx gone" h_queue_id_gone "$q_nx"

send_ok --from "$SENDER" --to z1@nullmx.test
q_null=$LAST_QUEUE_ID
wait_bulkqd_log "to=<z1@nullmx\.test>,.*status=bounced"
line=$(grep -E "to=<z1@nullmx\.test>,.*status=bounced" "$BULKQD_LOG" | head -n 1)
h_log "nullmx.test: $line"
[[ "$line" =~ dsn=5\.[0-9]+\.[0-9]+, ]] || h_fail "nullmx.test bounce without a 5.x.x dsn: $line"
[[ "$line" =~ (dsn=5\.1\.10,|null\ MX) ]] || h_fail "nullmx.test bounce without 5.1.10 / null MX wording: $line"
wait_bulkqd_log "$q_null: sender non-delivery notification"
check_dsn z1@nullmx.test '5\.[0-9]+\.[0-9]+'
h_wait_until "$H_TIMEOUT" "held file $q_null gone" h_queue_id_gone "$q_null"
wait_status delivery.bounced -eq 2
assert_status delivery.dsn_sent 2
assert_eq "recipients of nx.test/nullmx.test at the test sink" 0 \
  "$(sink_recipients_received mx | grep -cE '@(nx|nullmx)\.test$' || true)"

# ---------------------------------------------------------------------------------------------
# 3. SERVFAIL: deferred, the domain backs off, nothing bounces; then it resolves → delivered.
backoffs0=$(status_field delivery.domain_backoffs)
send_ok --from "$SENDER" --to s1@sf.test
q_sf=$LAST_QUEUE_ID
wait_bulkqd_log "to=<s1@sf\.test>,.*status=deferred"
h_log "sf.test: $(grep -E "to=<s1@sf\.test>,.*status=deferred" "$BULKQD_LOG" | head -n 1)"
wait_status delivery.domain_backoffs -gt "$backoffs0"
assert_grep "sf.test backs off" "sf\.test: deferring new connections" "$BULKQD_LOG"
# Let it fail a few more rounds (backoff 1–2 s, failure_ttl 1 s): still nothing bounced.
sleep 4
assert_no_grep "no bounce for sf.test" "to=<s1@sf\.test>,.*status=(bounced|expired)" "$BULKQD_LOG"
assert_status delivery.bounced 2
assert_eq "s1@sf.test received while SERVFAIL" 0 "$(received_count s1@sf.test)"
assert_eq "held file of the sf.test message still in hold/" 1 "$(hold_ids | grep -cxF "$q_sf" || true)"
# The zone now answers for sf.test.
DNS_FAIL_DOMAINS=()
dns_mx sf.test mx1.dnsfaults.test 10
restart_dns
assert_eq "dnsmasq now answers sf.test MX" "MX 10 mx1.dnsfaults.test" "$(dns_query sf.test MX | sed -n 2p)"
wait_received s1@sf.test 60
h_wait_until "$H_TIMEOUT" "held file $q_sf gone" h_queue_id_gone "$q_sf"
assert_status delivery.bounced 2

# ---------------------------------------------------------------------------------------------
# 4. DNS server down: the warm domain is served from the cache.
stop_dns
h_log "dnsmasq stopped"
send_ok --from "$SENDER" --to a2@warm.test
wait_received a2@warm.test
send_ok --from "$SENDER" --to a3@warm.test,a4@warm.test
wait_received a3@warm.test
wait_received a4@warm.test
h_log "warm.test delivered with dnsmasq down: $(status_field delivery.dns_hits) dns hit(s), $(status_field delivery.dns_stale_served) stale"

# ---------------------------------------------------------------------------------------------
# 5. bulkqd restarted with DNS still down: the LMDB cache survived.
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
start_bulkqd
assert_status delivery.dns_misses 0
send_ok --from "$SENDER" --to a5@warm.test
q_warm5=$LAST_QUEUE_ID
wait_received a5@warm.test
h_wait_until "$H_TIMEOUT" "held file $q_warm5 gone" h_queue_id_gone "$q_warm5"
# The status is published every 100 ms: the removal can be seen before the figures.
wait_status delivery.sent -eq 1
wait_status delivery.dns_hits -ge 1
assert_status delivery.dns_misses 0

# ---------------------------------------------------------------------------------------------
# Totals: each delivered recipient exactly once; hold/ and the journal empty.
for a in a1@warm.test a2@warm.test a3@warm.test a4@warm.test a5@warm.test i1@implicit.test s1@sf.test; do
  assert_eq "times $a was received" 1 "$(received_count "$a")"
done
h_wait_until "$H_TIMEOUT" "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
stop_bulkqd
"$JOURNAL_EDIT" "$JOURNAL_DIR" list >"$SCRATCH/journal-after.txt" 2>&1
assert_eq "journal records at the end" 0 "$(grep -c . "$SCRATCH/journal-after.txt" || true)"
