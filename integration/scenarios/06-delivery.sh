#!/usr/bin/env bash
# Scenario 6: bulkqd delivers held bulk mail itself, over one connection per domain batch.
#   A campaign of BULKQ_DELIVERY_MESSAGES (default 2000) messages × 1–10 recipients over 50
#   domains (Zipf skew) goes into a real Postfix; bulkqd holds it, resolves each domain's MX
#   through dnsmasq (MX → mx<k>.campaign.test → five sink addresses 127.0.0.11–15) and sends it.
# Checked: every recipient received exactly once; every message body byte-identical to what was
# sent (bar Postfix's Received header); batches carry many transactions per connection; hold/ and
# the journal end empty; bulkqd's log has a Postfix-shaped status=sent line per recipient and the
# accounting log one JSON line per recipient.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 06-delivery

messages=${BULKQ_DELIVERY_MESSAGES:-2000}
domains=50

for k in 1 2 3 4 5; do dns_host "mx$k.campaign.test" "127.0.0.1$k"; done
for ((j = 0; j < domains; j++)); do dns_mx "d$j.campaign.test" "mx$((j % 5 + 1)).campaign.test" 10; done
start_dns
start_test_sink mx 127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.14 127.0.0.15
start_sink
start_postfix
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  $'[bulk]\nheader_name = "List-Unsubscribe"' \
  "$(printf '[delivery]\nport = %s\nhelo_name = "bulkq.test"\naccounting_log = "%s"\nmax_connections = 20' \
    "$TSINK_SMTP_PORT" "$SCRATCH/accounting.log")" \
  "$(printf '[dns]\nservers = ["%s"]\ncache_directory = "%s"' "$DNS_SERVER" "$SCRATCH/dnscache")"
start_bulkqd

mkdir -p "$SCRATCH/sent"
h_log "sending $messages messages over $domains domains"
python3 "$H_ROOT/integration/lib/campaign.py" --port "$SMTP_PORT" --messages "$messages" \
  --domains "$domains" --max-recipients 10 --connections 4 --seed 6 \
  --plan-out "$SCRATCH/plan.txt" --body-out "$SCRATCH/sent" >"$SCRATCH/campaign.log" 2>&1 ||
  h_fail "campaign failed: $(tail -3 "$SCRATCH/campaign.log")"
expected=$(wc -l <"$SCRATCH/plan.txt")
h_log "campaign: $(cat "$SCRATCH/campaign.log"); waiting for $expected recipients at the sink"

wait_sink_stat mx recipients "$expected" 240
h_wait_until 60 "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
assert_status recipients 0

# Exactly once: the sink's recipients are the plan's, with no duplicates.
sink_recipients_received mx >"$SCRATCH/received.txt"
cut -d' ' -f1 "$SCRATCH/plan.txt" | sort >"$SCRATCH/planned.txt"
assert_eq "duplicate recipients at the sink" 0 "$(uniq -d "$SCRATCH/received.txt" | wc -l)"
if ! cmp -s "$SCRATCH/planned.txt" "$SCRATCH/received.txt"; then
  diff "$SCRATCH/planned.txt" "$SCRATCH/received.txt" | head -20
  h_fail "the recipients received differ from those sent"
fi

# Bodies: every stored message, without Postfix's Received header, equals what was sent.
sink_messages mx >"$SCRATCH/stored.txt"
python3 - "$SCRATCH/stored.txt" "$SCRATCH/sent" <<'PY' >"$SCRATCH/bodies.txt" 2>&1 ||
import re, sys
checked = 0
for path in open(sys.argv[1]).read().split():
    got = open(path, "rb").read()
    m = re.search(rb"^Message-ID: <campaign-([0-9]+)@", got, re.M)
    if not m:
        sys.exit("%s carries no campaign Message-ID" % path)
    sent = open("%s/%s.eml" % (sys.argv[2], m.group(1).decode()), "rb").read()
    lines = got.split(b"\r\n")
    i = 0
    if lines and lines[0].startswith(b"Received:"):  # Postfix's, folded lines after it
        i = 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    if b"\r\n".join(lines[i:]).rstrip(b"\r\n") != sent.rstrip(b"\r\n") or b"X-Bulkq-Id" in got:
        sys.exit("%s differs from message %s as sent" % (path, m.group(1).decode()))
    checked += 1
print(checked)
PY
  h_fail "$(cat "$SCRATCH/bodies.txt")"
h_log "$(cat "$SCRATCH/bodies.txt") message bodies identical to what was sent"

connections=$(sink_connections mx)
transactions=$(sink_transactions mx)
h_log "sink: $connections connections, $transactions transactions"
assert_ge "transactions" "$messages" "$transactions"
# Batches share connections: far fewer connections than transactions.
[ $((connections * 20)) -le "$transactions" ] ||
  h_fail "$connections connections for $transactions transactions: batches are not sharing connections"
assert_ge "status delivery.connections" "$connections" "$(status_field delivery.connections)"
assert_status delivery.sent "$expected"
assert_status delivery.bounced 0

# Logs: one status=sent line per recipient, Postfix-shaped; one accounting line per recipient.
sent_lines=$(grep -cE '^.*[0-9A-Za-z]+: to=<[^>]+>, relay=mx[1-5]\.campaign\.test\[127\.0\.0\.1[1-5]\]:[0-9]+, .*dsn=2\.0\.0, status=sent \(250 ' "$BULKQD_LOG" || true)
assert_eq "status=sent log lines" "$expected" "$sent_lines"
assert_eq "accounting lines" "$expected" "$(grep -c '"status":"sent"' "$SCRATCH/accounting.log")"

# The journal is empty once everything left.
stop_bulkqd
"$JOURNAL_EDIT" "$JOURNAL_DIR" list >"$SCRATCH/journal-after.txt" 2>&1
assert_eq "journal records after delivery" 0 "$(grep -c . "$SCRATCH/journal-after.txt" || true)"
