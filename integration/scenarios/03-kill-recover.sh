#!/usr/bin/env bash
# Scenario 3: bulkqd killed with SIGKILL loses nothing; startup recovery adopts and drops.
#   1. five bulk messages, message k with k recipients in domains d1..dk (15 recipients, 5
#      domains), all held and committed; then kill -9 bulkqd.
#   2. restart: status shows the same messages/recipients/domains, recovered_messages = 5.
#   3. with bulkqd stopped: remove message 2's journal record (bulkq_journal_edit) and delete
#      message 5's held file (as an administrator would), then restart:
#      adopted_messages = 1 (message 2: held file with bulkq's marker, no record),
#      dropped_records = 1 (message 5: record without a held file; the log names its queue id),
#      recovered_messages = 3, and the totals match: 4 messages, 10 recipients, 4 domains.
#   4. stopped again, the journal holds records for exactly the four held files.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 03-kill-recover
h_need "$JOURNAL_EDIT"

start_sink
start_postfix
write_bulkq_toml
start_bulkqd

declare -A qid=()   # message number → queue id
for k in 1 2 3 4 5; do
  rcpts=()
  for d in $(seq 1 "$k"); do rcpts+=("m$k@d$d.bulkq.test"); done
  write_message "$SCRATCH/mail/m$k.eml" 'Precedence: bulk'
  send_ok --from news@sender.test --to "$(IFS=,; echo "${rcpts[*]}")" --data "@$SCRATCH/mail/m$k.eml"
  qid[$k]=$LAST_QUEUE_ID
done
h_log "queue ids: 1=${qid[1]} 2=${qid[2]} 3=${qid[3]} 4=${qid[4]} 5=${qid[5]}"
wait_hold 5
wait_status messages -eq 5
wait_status pending_commit -eq 0
assert_status recipients 15
assert_status domains 5

# 1-2. crash and recover
kill_bulkqd KILL
h_log "bulkqd killed with SIGKILL"
assert_eq "files in hold/ after the kill" 5 "$(hold_count)"
start_bulkqd
wait_status recovered_messages -eq 5
assert_status messages 5
assert_status recipients 15
assert_status domains 5
assert_status adopted_messages 0
assert_status dropped_records 0
assert_status pending_commit 0

# 3. damage the state while bulkqd is stopped
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
"$JOURNAL_EDIT" "$JOURNAL_DIR" list >"$SCRATCH/log/journal-before.txt" 2>&1 ||
  { cat "$SCRATCH/log/journal-before.txt" >&2; h_fail "bulkq_journal_edit list failed"; }
sed 's/^/    journal: /' "$SCRATCH/log/journal-before.txt"
assert_eq "journal records" 5 "$(wc -l <"$SCRATCH/log/journal-before.txt")"
for k in 1 2 3 4 5; do
  line=$(awk -v q="${qid[$k]}" '$2 == q' "$SCRATCH/log/journal-before.txt")
  [ -n "$line" ] || h_fail "no journal record for message $k (${qid[$k]})"
  set -- $line
  assert_eq "journal record of ${qid[$k]}: recipients" "$k" "$4"
  assert_eq "journal record of ${qid[$k]}: finished" 0 "$5"
  assert_eq "journal record of ${qid[$k]}: state" queued "$3"
done
record2=$(awk -v q="${qid[2]}" '$2 == q { print $1 }' "$SCRATCH/log/journal-before.txt")
"$JOURNAL_EDIT" "$JOURNAL_DIR" remove "$record2" >/dev/null ||
  h_fail "bulkq_journal_edit remove $record2 failed"
h_log "removed journal record $record2 (message 2, ${qid[2]}); its held file stays"
rm -f "$PF_HOLD/${qid[5]}"
h_log "deleted hold/${qid[5]} (message 5); its journal record stays"

start_bulkqd
restart_log=$SCRATCH/log/bulkqd-after-damage.log
wait_status dropped_records -eq 1
wait_status adopted_messages -eq 1
# Only the log of this start: earlier lines name every queue id already.
sed -n "/^==== bulkqd start #$BULKQD_RUNS /,\$p" "$BULKQD_LOG" >"$restart_log"
assert_grep "bulkqd logged the dropped record of ${qid[5]}" "${qid[5]}" "$restart_log"
assert_status recovered_messages 3
assert_status messages 4
assert_status recipients 10
assert_status domains 4
assert_status pending_commit 0
assert_bulkqd_alive
h_log "status: $(status_summary)"

# 4. the journal again matches the hold queue
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
"$JOURNAL_EDIT" "$JOURNAL_DIR" list >"$SCRATCH/log/journal-after.txt" 2>&1 ||
  { cat "$SCRATCH/log/journal-after.txt" >&2; h_fail "bulkq_journal_edit list failed"; }
sed 's/^/    journal: /' "$SCRATCH/log/journal-after.txt"
assert_eq "queue ids in the journal" "$(hold_ids | tr '\n' ' ')" \
  "$(awk '{ print $2 }' "$SCRATCH/log/journal-after.txt" | sort | tr '\n' ' ')"
assert_eq "hold/ files (messages 1 to 4)" \
  "$(for k in 1 2 3 4; do echo "${qid[$k]}"; done | sort | tr '\n' ' ')" "$(hold_ids | tr '\n' ' ')"
