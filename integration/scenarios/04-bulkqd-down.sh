#!/usr/bin/env bash
# Scenario 4: with bulkqd down or stuck, Postfix still accepts bulk mail and delivers it itself
# (milter_default_action = accept): nothing is lost, nothing new is held.
#   a. bulkqd never started (no milter socket)
#   b. bulkqd running (one bulk message held: the milter path is live), then stopped by SIGTERM
#   c. bulkqd killed by SIGKILL (a stale milter socket is left behind)
#   d. bulkqd stuck (SIGSTOP): Postfix gives up after the milter timeouts (5 s here) and accepts
# Every bulk message sent while bulkqd is down or stuck reaches the sink exactly once, without an
# X-Bulkq-Id header; hold/ keeps only the one message held in (b).
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 04-bulkqd-down

# Short milter timeouts so the stuck case (d) takes seconds, not the default 30 s.
POSTFIX_EXTRA_MAIN_CF=$'milter_connect_timeout = 5s\nmilter_command_timeout = 5s\nmilter_content_timeout = 5s'
start_sink
start_postfix
write_bulkq_toml

delivered=0
# send_bulk_expect_delivered WHAT: one bulk message (Precedence: bulk and List-Unsubscribe),
# which must reach the sink unchanged since bulkqd cannot take it.
send_bulk_expect_delivered() {
  local what=$1 file=$SCRATCH/mail/down-$((delivered + 1)).eml
  write_message "$file" 'Precedence: bulk' 'List-Unsubscribe: <mailto:unsubscribe@bulkq.test>'
  local id=$MESSAGE_ID
  local started=$SECONDS
  send_ok --from news@sender.test --to "reader$((delivered + 1))@dest.test" --data "@$file"
  delivered=$((delivered + 1))
  wait_delivered "$delivered" 60
  mapfile -t copies < <(sink_find "^Message-Id: $id\$")
  assert_eq "$what: copies of $id at the sink" 1 "${#copies[@]}"
  delivered_as_sent "$file" "${copies[0]}" || h_fail "$what: message changed on the way"
  assert_no_grep "$what: no X-Bulkq-Id header" '^X-Bulkq-Id:' "${copies[0]}"
  h_log "ok: $what: bulk message $LAST_QUEUE_ID delivered by Postfix ($((SECONDS - started))s)"
}

# a. never started
send_bulk_expect_delivered "bulkqd never started"
assert_eq "files in hold/" 0 "$(hold_count)"

# b. running, then stopped
start_bulkqd
write_message "$SCRATCH/mail/held.eml" 'Precedence: bulk'
send_ok --from news@sender.test --to held@dest.test --data "@$SCRATCH/mail/held.eml"
held_id=$LAST_QUEUE_ID
wait_hold 1
assert_eq "the held message" "$held_id" "$(hold_ids)"
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
assert_eq "bulkqd exit status after SIGTERM" 0 "$BULKQD_LAST_EXIT"
send_bulk_expect_delivered "bulkqd stopped (SIGTERM)"

# c. killed: the socket file may stay behind; Postfix's connect is refused at once.
start_bulkqd
kill_bulkqd KILL
send_bulk_expect_delivered "bulkqd killed (SIGKILL)"

# d. stuck: the process is there, its sockets accept connections, nothing answers.
start_bulkqd
kill -STOP "$BULKQD_PID"
send_bulk_expect_delivered "bulkqd stuck (SIGSTOP)"
assert_grep "Postfix logged the milter timeout" 'milter.*(timed out|timeout)' "$MAILLOG"
kill -CONT "$BULKQD_PID"
assert_bulkqd_alive
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM after SIGCONT"

assert_eq "files in hold/ (only the one held while bulkqd ran)" "$held_id" "$(hold_ids)"
h_wait_until "$H_TIMEOUT" "Postfix's queue to drain" h_queue_empty
assert_eq "messages at the sink" "$delivered" "$(sink_count)"
