#!/usr/bin/env bash
# Scenario 5: malformed input gets a clear error and no crash, and other mail is unaffected.
#   a. malformed and odd envelope addresses (swaks): whatever Postfix accepts is either held by
#      bulkqd or delivered by Postfix (failed open) — never lost; rejects are Postfix's
#   b. a 1 MB header (one unfolded line; and 20 000 folded lines), bulk
#   c. NUL bytes in the body, bulk
#   d. 10 000 recipients in one bulk message (smtp-source -r; the sender-domain rule makes it
#      bulk): status recipients grows by exactly 10 000, the held file has 10 000 recipients
#   e. junk on the admin socket and on the milter socket
#   f. broken queue files planted in hold/ (random bytes; a truncated copy of a real held file),
#      mode 0700, then a bulkqd restart: an error naming each, bulkqd keeps running, every real
#      held message is still recovered
#   g. broken bulkq.toml: `bulkqd -t -c broken` exits 1 with FILE:LINE: key: ...;
#      `bulkqd -f -c broken` refuses to start (exit != 0) and leaves the running bulkqd alone
# After each step: bulkqd is alive, answers status, and a non-bulk message is still delivered.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
h_init 05-bad-input

start_sink
start_postfix
write_bulkq_toml
start_bulkqd

# still_fine STEP: bulkqd alive and answering; a fresh non-bulk message reaches the sink.
still_fine() {
  assert_bulkqd_alive
  local file=$SCRATCH/mail/check-$H_MSG_N.eml
  write_message "$file" 'X-Test: non-bulk check'
  local id=$MESSAGE_ID
  send_ok --from someone@sender.test --to check@dest.test --data "@$file"
  h_wait_until "$H_TIMEOUT" "non-bulk $id at the sink after step '$1'" h_sink_has "$id"
  h_log "ok: after $1: bulkqd alive, non-bulk mail delivered ($(status_summary))"
}
h_sink_has() { [ -n "$(sink_find "^Message-Id: $1\$")" ]; }

# held_or_delivered QUEUE-ID: Postfix accepted it; it must end up held (hold/ID, complete) or
# delivered to the sink (Postfix's status=sent), within the timeout.
h_held_or_delivered() {
  [ -f "$PF_HOLD/$1" ] && [ -x "$PF_HOLD/$1" ] && return 0
  grep -qE "$1: to=.* status=sent " "$MAILLOG"
}
let_through=0   # bulk messages bulkqd left to Postfix (each one must count as a fail-open)
held_or_delivered() {
  h_wait_until "$H_TIMEOUT" "$1 to be held or delivered" h_held_or_delivered "$1"
  if [ -f "$PF_HOLD/$1" ]; then
    h_log "ok: $1 ${2:-} is held by bulkq"
  else
    let_through=$((let_through + 1))
    h_log "ok: $1 ${2:-} was delivered by Postfix (bulkq let it through)"
  fi
}

still_fine "start-up"

# ---- a. malformed and odd addresses
bad_from=('no-at-sign' 'x@' '@bulkq.test' 'a@b@c.test' 'user@[300.1.1.1]' 'user@-bad-.test'
  'user@d..test' '"quoted local"@q.bulkq.test' 'user@dömain.test' "$(printf 'l%.0s' $(seq 1 300))@long.test")
bad_to=('no-at-sign' 'user@' '@bulkq.test' 'a@b@c.test' 'user@[300.1.1.1]' 'user@-bad-.test'
  'user@d..test' '"quoted local"@q.bulkq.test' 'user@dömain.test' "$(printf 'l%.0s' $(seq 1 300))@long.test"
  'user@bulkq.test>' '<user@bulkq.test' 'user@bulkq.test SIZE=1')
accepted=0
rejected=0
try_addresses() {  # try_addresses FROM TO
  write_message "$SCRATCH/mail/addr.eml" 'Precedence: bulk'
  if send_mail --from "$1" --to "$2" --data "@$SCRATCH/mail/addr.eml" && [ -n "$LAST_QUEUE_ID" ]; then
    accepted=$((accepted + 1))
    held_or_delivered "$LAST_QUEUE_ID" "(from <$1> to <$2>)"
  else
    rejected=$((rejected + 1))
    local reply
    reply=$(grep -E '^<\*\* +[45][0-9][0-9][ -]' "$LAST_SWAKS_LOG" | tail -n 1 | cut -c5-124)
    h_log "ok: from <$1> to <$2> not accepted: ${reply:-swaks: $(tail -n 1 "$LAST_SWAKS_LOG" | cut -c1-120)}"
  fi
}
for to in "${bad_to[@]}"; do try_addresses news@sender.test "$to"; done
for from in "${bad_from[@]}"; do try_addresses "$from" ok@good.bulkq.test; done
h_log "malformed addresses: $accepted accepted by Postfix, $rejected refused; $let_through of the accepted left to Postfix by bulkqd"
# Every bulk message bulkqd does not divert is a fail-open, counted in status (and logged).
# (The status is a snapshot the scheduler thread publishes now and then: wait for it.)
wait_status fail_open.total -ge "$let_through" 10
assert_status fail_open.total "$let_through"
assert_eq "bulkqd log lines 'bulk mail not diverted'" "$let_through" \
  "$(grep -c 'bulk mail not diverted' "$BULKQD_LOG")"
still_fine "malformed addresses"

# ---- b. a 1 MB header
python3 - "$SCRATCH/mail/huge-line.eml" "$SCRATCH/mail/huge-folded.eml" <<'PY'
import sys
common = (b"From: news@sender.test\nTo: reader@huge.bulkq.test\nPrecedence: bulk\n"
          b"Message-Id: <huge-%d@bulkq.test>\nSubject: a 1 MB header\n")
with open(sys.argv[1], "wb") as f:
    f.write(common % 1 + b"X-Huge: " + b"h" * (1 << 20) + b"\n\nbody after a 1 MB header line\n")
with open(sys.argv[2], "wb") as f:
    f.write(common % 2 + b"X-Huge-Folded: start\n")
    for i in range(20000):
        f.write(b"\tfolded line %05d of a one-megabyte header ........\n" % i)
    f.write(b"\nbody after a 1 MB folded header\n")
PY
for f in huge-line huge-folded; do
  if send_mail --from news@sender.test --to reader@huge.bulkq.test --data "@$SCRATCH/mail/$f.eml" &&
    [ -n "$LAST_QUEUE_ID" ]; then
    held_or_delivered "$LAST_QUEUE_ID" "($f, $(stat -c %s "$SCRATCH/mail/$f.eml") bytes)"
  else
    h_log "ok: $f refused by Postfix: $(grep -E '^<\*\* ' "$LAST_SWAKS_LOG" | tail -n 1 | cut -c5-124)"
  fi
done
still_fine "1 MB header"

# ---- c. NUL bytes in the body
python3 - "$SCRATCH/mail/nul.eml" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: news@sender.test\nTo: reader@nul.bulkq.test\nPrecedence: bulk\n"
            b"Message-Id: <nul@bulkq.test>\nSubject: NUL bytes\n\n")
    f.write(b"before\x00after\n\x00\x00\x00\nline with \x00 in the middle\n\x00\n")
PY
send_ok --from news@sender.test --to reader@nul.bulkq.test --data "@$SCRATCH/mail/nul.eml"
held_or_delivered "$LAST_QUEUE_ID" "(NUL bytes)"
still_fine "NUL bytes"

# ---- d. 10 000 recipients in one message
wait_status pending_commit -eq 0
before_messages=$(status_field messages)
before_recipients=$(status_field recipients)
started=$SECONDS
timeout 300 "$POSTFIX_SBIN/smtp-source" -s 1 -m 1 -r 10000 -l 512 -M client.bulkq.test \
  -f promo@bulk-sender.test -t reader@tenk.bulkq.test "127.0.0.1:$SMTP_PORT" \
  >"$SCRATCH/log/smtp-source-10k.log" 2>&1 ||
  { cat "$SCRATCH/log/smtp-source-10k.log" >&2; h_fail "smtp-source -r 10000 failed"; }
wait_status messages -eq $((before_messages + 1)) 60
wait_status pending_commit -eq 0
assert_status recipients $((before_recipients + 10000))
tenk_id=$(grep -E 'milter-hold: .* from=<promo@bulk-sender\.test> to=<[^>]*@tenk\.bulkq\.test>' "$MAILLOG" |
  sed -nE 's/.*\]: ([0-9A-Za-z]+): milter-hold.*/\1/p' | tail -n 1)
[ -n "$tenk_id" ] || h_fail "no milter-hold line for the 10 000-recipient message in $MAILLOG"
assert_eq "recipients in hold/$tenk_id (postcat)" 10000 \
  "$(postcat_held "$tenk_id" | grep -c '^recipient: ')"
h_log "ok: 10 000 recipients held and queued in $((SECONDS - started))s"
still_fine "10 000 recipients"

# ---- e. junk on the sockets
python3 - "$ADMIN_SOCKET" "$MILTER_SOCKET" <<'PY'
import os, socket, sys
junk = [b"\x00" * 64, b"{\"command\":" * 1000 + b"\n", os.urandom(4096), b"status\n" * 3,
        b"\xff\xfe garbage \r\n", b"{}\n", b"[1,2,3]\n", b"{\"command\":\"status\"" + b"\n"]
for path in sys.argv[1:]:
    for data in junk + [b"\x00\x00\x00\x05Xjunk", b"\x7f\xff\xff\xff" + b"O" * 100]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(path)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.recv(65536)
        except OSError:
            pass
        finally:
            s.close()
PY
h_log "sent 10 junk payloads to each of the admin and milter sockets"
still_fine "junk on the admin and milter sockets"

# ---- f. broken queue files in hold/, then a restart
wait_status pending_commit -eq 0
held_before=$(status_field messages)
recipients_before=$(status_field recipients)
stop_bulkqd || h_fail "bulkqd did not stop on SIGTERM"
random_id=4ZZZZZZZZZZzBAD1
truncated_id=4ZZZZZZZZZZzBAD2
head -c 4096 /dev/urandom >"$PF_HOLD/$random_id"
real=$(hold_ids | grep -v -e "$random_id" | head -n 1)
size=$(stat -c %s "$PF_HOLD/$real")
head -c $((size * 6 / 10)) "$PF_HOLD/$real" >"$PF_HOLD/$truncated_id"
chown postfix:postfix "$PF_HOLD/$random_id" "$PF_HOLD/$truncated_id"
chmod 0700 "$PF_HOLD/$random_id" "$PF_HOLD/$truncated_id"
h_log "planted hold/$random_id (4096 random bytes) and hold/$truncated_id (first 60% of hold/$real)"
start_bulkqd
restart_log=$SCRATCH/log/bulkqd-after-planting.log
wait_status recovered_messages -eq "$held_before"
sed -n "/^==== bulkqd start #$BULKQD_RUNS /,\$p" "$BULKQD_LOG" >"$restart_log"
assert_grep "bulkqd logged the random file" "$random_id" "$restart_log"
assert_grep "bulkqd logged the truncated file" "$truncated_id" "$restart_log"
assert_status messages "$held_before"
assert_status recipients "$recipients_before"
assert_status adopted_messages 0
assert_status dropped_records 0
still_fine "broken queue files"
rm -f "$PF_HOLD/$random_id" "$PF_HOLD/$truncated_id"

# ---- g. broken configuration files
broken=$SCRATCH/broken.toml
check_broken() {  # check_broken DESCRIPTION REGEX CONTENT
  printf '%s\n' "$3" >"$broken"
  local out rc=0
  out=$(timeout 20 "$BULKQD" -t -c "$broken" 2>&1) || rc=$?
  assert_eq "bulkqd -t exit status ($1)" 1 "$rc"
  [[ "$out" =~ $2 ]] || h_fail "bulkqd -t ($1): expected output matching /$2/, got: $out"
  h_log "ok: bulkqd -t ($1): $out"
  rc=0
  out=$(timeout 20 "$BULKQD" -f -c "$broken" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
    h_fail "bulkqd -f with a broken configuration ($1): exit $rc (expected a refusal), output: $out"
  h_log "ok: bulkqd -f ($1) refused to start (exit $rc)"
}
# The broken files name sockets of their own, so a bulkqd that wrongly started could not touch
# the running one's.
other="[admin]
socket = \"$SCRATCH/run/broken-admin.sock\"
[milter]
socket = \"unix:$SCRATCH/run/broken-milter.sock\""
check_broken "unknown policy" "broken\.toml:6: scheduler\.policy: " "$other
[scheduler]
policy = \"biggest\""
check_broken "unknown key" "broken\.toml:[0-9]+: .*journal\.(directroy|directory)" "$other
[journal]
directroy = \"$SCRATCH/other-journal\""
check_broken "wrong type" "broken\.toml:6: intake\.memory_limit: " "$other
[intake]
memory_limit = \"lots\""
check_broken "syntax error" "broken\.toml:[0-9]+" "$other
[bulk
sender_domains = [\"x.test\""
check_broken "bad network" "broken\.toml:6: bulk\.client_networks: " "$other
[bulk]
client_networks = [\"300.1.2.3/8\"]"
[ ! -e "$SCRATCH/run/broken-admin.sock" ] && [ ! -e "$SCRATCH/run/broken-milter.sock" ] ||
  h_fail "a refused bulkqd left sockets behind"
still_fine "broken configuration files"

assert_status journal_ok true
h_log "final status: $(status_summary)"
