#!/usr/bin/env bash
# Scenario 11: the volume counter ([quota]) with a real Postfix.
#   a. quota.messages = 3, action tempfail: three bulk messages are held; the fourth gets
#      "451 4.7.1 <quota.reply>" from Postfix and is not queued; non-bulk mail still passes.
#      Status: volume messages 3 of 3, recipients counted, tempfailed 1.
#   b. bulkqd restarted: the counts come back from LMDB (messages 3), so the next bulk message
#      is still refused.
#   c. restarted with action fail_open: the next bulk message is let through to Postfix, which
#      delivers it to the sink; status fail_open.quota 1; nothing more is held.
#   d. a sender domain's own limit: with [quota.sender_domains] limited.test = 2 recipients,
#      mail from limited.test past it is refused while another sender's is still held.
# Period rollover is covered by the unit tests (it needs a clock this test cannot move).
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 11-volume-quota

start_sink
start_postfix

quota_table() {  # quota_table ACTION [EXTRA-LINES]
  printf '[quota]\ndirectory = "%s"\nmessages = 3\naction = "%s"\nreply = "volume licence used up, retry tomorrow"\n%s' \
    "$SCRATCH/volume" "$1" "${2:-}"
}
write_bulkq_toml "$SCRATCH/bulkq.toml" "$(quota_table tempfail)"
start_bulkqd

write_message "$SCRATCH/mail/bulk.eml" 'Precedence: bulk'
write_message "$SCRATCH/mail/plain.eml"

# a. three held, the fourth refused for now
for i in 1 2 3; do
  send_ok --from news@sender.test --to "r$i@a.quota.test,s$i@b.quota.test" \
    --data "@$SCRATCH/mail/bulk.eml"
done
wait_hold 3
if send_mail --from news@sender.test --to r4@a.quota.test --data "@$SCRATCH/mail/bulk.eml"; then
  h_fail "the fourth bulk message was accepted past quota.messages = 3"
fi
grep -q '451 4.7.1 volume licence used up, retry tomorrow' "$LAST_SWAKS_LOG" ||
  { tail -n 8 "$LAST_SWAKS_LOG" >&2; h_fail "no '451 4.7.1 <quota.reply>' in the reply"; }
h_log "ok: the fourth bulk message got 451 4.7.1 with quota.reply"
assert_eq "held files" 3 "$(hold_count)"
send_ok --from friend@sender.test --to someone@a.quota.test --data "@$SCRATCH/mail/plain.eml"
wait_delivered 1
wait_status volume.tempfailed -eq 1
# The volume figures are taken once a second.
wait_status volume.messages -eq 3
assert_status volume.recipients 6
assert_status volume.messages_limit 3
assert_status volume.action tempfail
assert_status volume.sender_domains 1
grep -q 'bulk mail refused for now (451 4.7.1): volume quota reached' "$BULKQD_LOG" ||
  h_fail "no log line for the refused message"

# b. restart: the counts come back
stop_bulkqd
start_bulkqd
wait_status volume.messages -eq 3
assert_status volume.recipients 6
if send_mail --from news@sender.test --to r5@a.quota.test --data "@$SCRATCH/mail/bulk.eml"; then
  h_fail "a bulk message was accepted past the quota after a restart"
fi
wait_status volume.tempfailed -eq 1
h_log "ok: the counts survived the restart; still refused"

# c. fail_open: let through to Postfix, delivered by it
stop_bulkqd
write_bulkq_toml "$SCRATCH/bulkq.toml" "$(quota_table fail_open)"
start_bulkqd
send_ok --from news@sender.test --to r6@a.quota.test --data "@$SCRATCH/mail/bulk.eml"
wait_delivered 2
wait_status fail_open.quota -eq 1
assert_eq "held files" 3 "$(hold_count)"
assert_status volume.messages 3
grep -q 'bulk mail not diverted, left to the MTA: volume quota reached' "$BULKQD_LOG" ||
  h_fail "no fail-open log line"

# d. a sender domain's own limit (global limit lifted)
stop_bulkqd
write_bulkq_toml "$SCRATCH/bulkq.toml" \
  "$(printf '[quota]\ndirectory = "%s"\naction = "tempfail"\n\n[quota.sender_domains]\n"limited.test" = { recipients = 2 }\n' "$SCRATCH/volume")"
start_bulkqd
send_ok --from news@limited.test --to "x1@a.quota.test,x2@b.quota.test" \
  --data "@$SCRATCH/mail/bulk.eml"
wait_hold 4
if send_mail --from news@limited.test --to x3@a.quota.test --data "@$SCRATCH/mail/bulk.eml"; then
  h_fail "mail from limited.test was accepted past its own limit"
fi
send_ok --from news@other.test --to y1@a.quota.test --data "@$SCRATCH/mail/bulk.eml"
wait_hold 5
wait_status volume.messages -eq 5
assert_status volume.messages_limit 0
h_log "ok: limited.test refused past its own limit; other senders still held"
assert_bulkqd_alive
