#!/usr/bin/env bash
# Scenario 1: mail that is not bulk passes through bulkqd untouched and Postfix delivers it.
#   - two non-bulk messages (one recipient; three recipients in two domains), one of them with
#     awkward but legal content (a line starting with ".", tabs, trailing spaces, a 900-byte line)
#   - each reaches the sink exactly once, byte for byte as sent (after the Received: headers)
#   - no X-Bulkq-Id header was added; hold/ stays empty
#   - bulkqd's status: passed_total >= 2, diverted_total = 0, messages = 0
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 01-nonbulk-passes

start_sink
start_postfix
write_bulkq_toml
start_bulkqd

long_line=$(printf 'x%.0s' $(seq 1 900))
m1=$SCRATCH/mail/plain.eml
write_message "$m1" 'X-Test: plain'
id1=$MESSAGE_ID
m2=$SCRATCH/mail/awkward.eml
write_message "$m2" 'X-Test: awkward' $'X-Folded: first part\n\tsecond part' -- \
  'First line.' '.a line starting with a dot' '..two dots' $'\tindented with a tab' \
  'trailing spaces   ' '' 'after an empty line' "$long_line" 'Precedence: bulk (in the body: not a header)' 'last line'
id2=$MESSAGE_ID

send_ok --from someone@sender.test --to rcpt1@dest-a.test --data "@$m1"
q1=$LAST_QUEUE_ID
send_ok --from someone@sender.test --to rcpt2@dest-a.test,rcpt3@dest-a.test,rcpt4@dest-b.test \
  --data "@$m2"
q2=$LAST_QUEUE_ID
h_log "sent $q1 (1 recipient) and $q2 (3 recipients)"

# 1 + 3 deliveries (one per recipient: the sink sees one transaction per recipient and domain).
wait_delivered 2
h_wait_until "$H_TIMEOUT" "Postfix's queue to drain" h_queue_empty
h_wait_until "$H_TIMEOUT" "4 recipients logged as sent" h_maillog_count_ge ' status=sent ' 4

for pair in "$id1:$m1" "$id2:$m2"; do
  id=${pair%%:*}
  sent=${pair#*:}
  mapfile -t copies < <(sink_find "^Message-Id: $id\$")
  [ "${#copies[@]}" -ge 1 ] || h_fail "message $id never reached the sink"
  for copy in "${copies[@]}"; do
    delivered_as_sent "$sent" "$copy" || h_fail "message $id was changed on the way (diff above)"
    assert_no_grep "no X-Bulkq-Id in $(basename "$copy")" '^X-Bulkq-Id:' "$copy"
  done
  h_log "ok: $id delivered untouched (${#copies[@]} transaction(s))"
done
assert_eq "recipients of $q2 delivered" 3 "$(maillog_count "$q2: to=.* status=sent ")"

assert_eq "files in hold/" 0 "$(hold_count)"
# The status is a snapshot the scheduler thread publishes now and then: wait for it.
wait_status passed_total -ge 2 10
assert_ge "status passed_total" 2 "$(status_field passed_total)"
assert_status diverted_total 0
assert_status messages 0
assert_status fail_open.total 0
assert_bulkqd_alive
h_log "status: $(status_summary)"

# bulkqd may create and own its own directories, but must not take over existing ones it merely
# lives in: here the scratch directory (root's, mode 0755) holds run/ and journal/.
assert_eq "owner of $SCRATCH (existing parent of bulkqd's sockets and journal)" "root:root" \
  "$(stat -c %U:%G "$SCRATCH")"
