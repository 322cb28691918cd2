#!/usr/bin/env bash
# Scenario 2: bulk mail is quarantined in Postfix's hold queue and queued by bulkqd.
#   a. one recipient, flagged by "Precedence: bulk"
#   b. 50 recipients over 5 domains, flagged by a List-Unsubscribe header
#   c. one recipient, flagged by the sender domain rule (bulk.sender_domains, no header)
#   d. one recipient, submitted locally with sendmail(1) (pickup → cleanup: non_smtpd_milters)
# Each ends up in hold/ (mode 0700, owned by postfix) carrying "X-Bulkq-Id: <number>" (distinct
# numbers), Postfix logs the milter HOLD, nothing reaches the sink, and bulkqctl status shows
# messages, recipients and domains to match, all committed (pending_commit = 0), nothing failed
# open, and one line per held message in bulkqd's log naming its queue id.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 02-bulk-held

start_sink
start_postfix
write_bulkq_toml
start_bulkqd

# check_held QUEUE-ID: the file is in hold/, complete, Postfix's, and carries the marker. Prints
# the marker's number.
check_held() {
  local q=$1 file=$PF_HOLD/$1
  [ -f "$file" ] || h_fail "$q is not in hold/ (hold has: $(hold_ids | tr '\n' ' '))"
  assert_file_mode "$file" 700
  assert_eq "owner of hold/$q" "postfix" "$(stat -c %U "$file")"
  postcat_held "$q" >"$SCRATCH/log/postcat-$q.txt" 2>&1 || h_fail "postcat -q $q failed"
  local markers
  markers=$(sed -n '/^\*\*\* MESSAGE CONTENTS/,/^\*\*\* HEADER EXTRACTED/p' \
    "$SCRATCH/log/postcat-$q.txt" | grep -cE '^X-Bulkq-Id: [0-9]+$')
  assert_eq "X-Bulkq-Id headers in $q (postcat)" 1 "$markers"
  MARKER=$(sed -nE 's/^X-Bulkq-Id: ([0-9]+)$/\1/p' "$SCRATCH/log/postcat-$q.txt")
}

# a. one recipient, Precedence: bulk
write_message "$SCRATCH/mail/a.eml" 'Precedence: bulk'
send_ok --from news@sender.test --to one@solo.bulkq.test --data "@$SCRATCH/mail/a.eml"
qa=$LAST_QUEUE_ID
wait_hold 1
wait_status messages -eq 1
check_held "$qa"
marker_a=$MARKER
assert_status recipients 1
assert_status domains 1

# b. 50 recipients over 5 domains, List-Unsubscribe
rcpts=()
for d in 1 2 3 4 5; do
  for r in $(seq 1 10); do rcpts+=("user$r@d$d.bulkq.test"); done
done
write_message "$SCRATCH/mail/b.eml" 'List-Unsubscribe: <https://bulkq.test/unsubscribe?id=42>' \
  'List-Unsubscribe-Post: List-Unsubscribe=One-Click'
send_ok --from list@sender.test --to "$(IFS=,; echo "${rcpts[*]}")" --data "@$SCRATCH/mail/b.eml"
qb=$LAST_QUEUE_ID
wait_hold 2
wait_status messages -eq 2
check_held "$qb"
marker_b=$MARKER
assert_eq "recipients in the held file $qb" 50 "$(grep -c '^recipient: ' "$SCRATCH/log/postcat-$qb.txt")"
assert_status recipients 51
assert_status domains 6

# c. sender domain rule, no header
write_message "$SCRATCH/mail/c.eml"
send_ok --from promo@bulk-sender.test --to someone@solo.bulkq.test --data "@$SCRATCH/mail/c.eml"
qc=$LAST_QUEUE_ID
wait_hold 3
wait_status messages -eq 3
check_held "$qc"
marker_c=$MARKER

# d. local submission: sendmail(1) → postdrop → pickup → cleanup, which applies non_smtpd_milters
write_message "$SCRATCH/mail/d.eml" 'Precedence: list'
timeout 60 "$POSTFIX_SBIN/sendmail" -C "$PF_CONF" -f local@sender.test local@d1.bulkq.test \
  <"$SCRATCH/mail/d.eml" || h_fail "sendmail -C $PF_CONF failed"
wait_hold 4
wait_status messages -eq 4
qd=$(hold_ids | grep -v -e "$qa" -e "$qb" -e "$qc")
check_held "$qd"
marker_d=$MARKER

markers=$(printf '%s\n' "$marker_a" "$marker_b" "$marker_c" "$marker_d" | sort -u | wc -l)
assert_eq "distinct X-Bulkq-Id values ($marker_a $marker_b $marker_c $marker_d)" 4 "$markers"

assert_status messages 4
assert_status recipients 53
assert_status domains 6
assert_status pending_commit 0
assert_status diverted_total 4
assert_status passed_total 0
assert_status fail_open.total 0
assert_status journal_ok true

# Postfix's side: three HOLDs, no delivery, nothing left in the other queues.
assert_eq "milter HOLD lines in the maillog" 4 "$(maillog_count 'milter triggers HOLD action')"
h_wait_until "$H_TIMEOUT" "Postfix's other queues to be empty" h_queue_empty
sleep 1  # a delivery, if one were (wrongly) under way, would show by now
assert_eq "deliveries logged (status=sent)" 0 "$(maillog_count ' status=sent ')"
assert_eq "messages at the sink" 0 "$(sink_count)"

for q in "$qa" "$qb" "$qc" "$qd"; do
  assert_grep "bulkqd logged $q" "$q" "$BULKQD_LOG"
done
assert_bulkqd_alive
h_log "status: $(status_summary)"
