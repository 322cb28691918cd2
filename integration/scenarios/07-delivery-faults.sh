#!/usr/bin/env bash
# Scenario 7: every kind of destination trouble gets its right outcome.
#   t450 recipient (450 once)          → deferred, retried after its own delay, then delivered
#   d451 recipient (451 after DATA)    → deferred, retried, delivered
#   p550 recipient (550)               → bounced: a DSN (multipart/report, Action: failed) reaches
#                                        the sender's mailbox through Postfix; others in the same
#                                        message delivered
#   greeting 421 (flaky.test)          → deferred, the domain backs off; once the server recovers,
#                                        delivered — nothing bounced
#   slow replies (slow.test)           → delivered
#   disconnect mid-DATA (drop.test)    → deferred, the domain backs off; delivered after recovery
#   STARTTLS, self-signed (tls.test)   → delivered over TLS (opportunistic TLS does not verify)
#   421 forever (dead.test)            → bounced as expired once delivery.max_queue_lifetime passes
# DNS: dnsmasq MX records → bulkq_test_sink listeners on 127.0.0.2x. Short retry and backoff
# times keep it quick.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 07-delivery-faults
h_maillog_like() { grep -qE -- "$1" "$BULKQD_LOG"; }

mx() {  # mx DOMAIN ADDRESS: DOMAIN's MX is mx.DOMAIN at ADDRESS
  dns_mx "$1" "mx.$1" 10
  dns_host "mx.$1" "$2"
}
mx ok.test 127.0.0.21
mx flaky.test 127.0.0.22
mx slow.test 127.0.0.23
mx drop.test 127.0.0.24
mx tls.test 127.0.0.25
mx dead.test 127.0.0.26
start_dns

start_test_sink ok 127.0.0.21 127.0.0.23,reply_delay_ms=300
start_test_sink flaky 127.0.0.22,greeting=421
start_test_sink drop 127.0.0.24,drop_mid_data
start_test_sink dead 127.0.0.26,greeting=421
make_tls_cert "$SCRATCH/tls"
start_test_sink tls 127.0.0.25
TSINK_TLS_CERT= TSINK_TLS_KEY=

start_sink
start_postfix
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  "$(printf '%s\n' '[delivery]' "port = $TSINK_SMTP_PORT" 'helo_name = "bulkq.test"' \
    "accounting_log = \"$SCRATCH/accounting.log\"" "dsn_relay = \"127.0.0.1:$SMTP_PORT\"" 'retry_min = 1' 'retry_max = 2' \
    'domain_backoff_min = 1' 'domain_backoff_max = 2' 'max_queue_lifetime = 25')" \
  "$(printf '%s\n' '[dns]' "servers = [\"$DNS_SERVER\"]" "cache_directory = \"$SCRATCH/dnscache\"")"
start_bulkqd

# The senders' own domain: Postfix relays it to the harness's smtp-sink, where DSNs land.
from=news@bulk-sender.test
send_ok --from "$from" --to "a@ok.test,t450-b@ok.test,d451-c@ok.test,p550-d@ok.test"
q_ok=$LAST_QUEUE_ID
send_ok --from "$from" --to "e@flaky.test"
send_ok --from "$from" --to "f@slow.test,g@slow.test"
send_ok --from "$from" --to "h@drop.test"
send_ok --from "$from" --to "i@tls.test"
send_ok --from "$from" --to "j@dead.test"
h_log "six bulk messages sent"

# Delivered, possibly after a retry.
wait_sink_stat ok recipients 5 60    # a, t450-b, d451-c (after its retry), f, g
wait_sink_stat tls recipients 1 60
assert_eq "ok.test and slow.test recipients" \
  "a@ok.test d451-c@ok.test f@slow.test g@slow.test t450-b@ok.test" \
  "$(sink_recipients_received ok | tr '\n' ' ' | sed 's/ $//')"
# A session's lines are logged when it ends (after QUIT, 300 ms late on the slow server): the
# sink may count a recipient a moment before bulkqd's line for it is written.
h_wait_until 30 "t450 sent line" h_maillog_like 't450-b@ok\.test>, .*status=sent \(250 '
h_wait_until 30 "slow.test sent line" \
  h_maillog_like 'f@slow\.test>, relay=mx\.slow\.test\[127\.0\.0\.23\]:[0-9]+, .*status=sent'
assert_grep "t450 deferred first" 't450-b@ok\.test>, .*dsn=4\.[0-9.]+, status=deferred \(450 ' "$BULKQD_LOG"
assert_grep "t450 sent after" 't450-b@ok\.test>, .*status=sent \(250 ' "$BULKQD_LOG"
assert_grep "d451 deferred first" 'd451-c@ok\.test>, .*status=deferred \(451 ' "$BULKQD_LOG"
assert_grep "slow.test sent" 'f@slow\.test>, relay=mx\.slow\.test\[127\.0\.0\.23\]:[0-9]+, .*status=sent' "$BULKQD_LOG"
grep -q '"tls":true' "${TSINK_LOG[tls]}" || h_fail "tls.test was not delivered over TLS: $(head -2 "${TSINK_LOG[tls]}")"
h_log "ok: deferred recipients retried and delivered; slow replies and STARTTLS delivered"

# 550: bounced, and the DSN reaches the sender through Postfix.
assert_grep "p550 bounced" "${q_ok}: to=<p550-d@ok\\.test>, .*dsn=5\\.1\\.1, status=bounced \\(550 " "$BULKQD_LOG"
h_wait_until 60 "a DSN at the sender's sink" h_sink_count_ge 1
dsn=$(sink_find 'p550-d@ok\.test' | head -1)
[ -n "$dsn" ] || h_fail "no DSN naming p550-d@ok.test at the sender's sink"
assert_grep "DSN is a delivery report" 'report-type=delivery-status' "$dsn"
assert_grep "DSN action" '^Action: failed' "$dsn"
assert_grep "DSN status" '^Status: 5\.1\.1' "$dsn"
assert_grep "DSN recipient" '^Final-Recipient: rfc822; ?p550-d@ok\.test' "$dsn"
assert_grep "DSN to the sender" "^To: <?$from" "$dsn"
h_log "ok: 550 bounced with a DSN to $from"

# 421 at greeting and a dropped connection: deferred with domain backoff, nothing bounced.
h_wait_until 30 "flaky.test deferred" h_maillog_like 'e@flaky\.test>, .*status=deferred'
h_wait_until 30 "drop.test deferred" h_maillog_like 'h@drop\.test>, .*status=deferred'
h_wait_until 10 "domain backoff logged" h_maillog_like 'flaky\.test: deferring new connections for '
assert_no_grep "flaky.test not bounced" 'e@flaky\.test>, .*status=bounced' "$BULKQD_LOG"
wait_status delivery.domain_backoffs -ge 2
# The servers recover (same address and port, no fault): the mail goes through.
stop_test_sink flaky
start_test_sink flaky2 127.0.0.22
stop_test_sink drop
start_test_sink drop2 127.0.0.24
wait_sink_stat flaky2 recipients 1 30
wait_sink_stat drop2 recipients 1 30
h_log "ok: 421 and mid-DATA disconnects deferred, then delivered after recovery"

# dead.test never recovers: bounced as expired after max_queue_lifetime (25 s).
h_wait_until 60 "dead.test expired" h_maillog_like 'j@dead\.test>, .*dsn=5\.4\.7, status=expired'
h_wait_until 30 "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
assert_status delivery.bounced 2
assert_status delivery.expired 1
h_log "status: sent $(status_field delivery.sent), deferred $(status_field delivery.deferred), bounced $(status_field delivery.bounced), DSNs $(status_field delivery.dsn_sent)"
