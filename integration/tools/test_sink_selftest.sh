#!/usr/bin/env bash
# integration/tools/test_sink_selftest.sh — checks the delivery test helpers themselves:
# bulkq_test_sink (replies, pipelining, faults, STARTTLS, log, stats, stored messages, exit, the
# rate=R limit per listener) and
# the dnsmasq set-up of integration/lib/delivery_harness.sh (MX, implicit MX, null MX, NXDOMAIN,
# SERVFAIL, no answer, restart on the same port). Needs root (h_init) and a build:
#   BULKQ_BUILD_DIR=build/helper-sink integration/tools/test_sink_selftest.sh [--bench]
# --bench also prints the sink's throughput under Postfix's smtp-source (a figure, not a check).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/harness.sh
. "$here/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
. "$here/../lib/delivery_harness.sh"

bench=0
[ "${1:-}" = --bench ] && bench=1

h_init test_sink_selftest
h_need "$TEST_SINK" openssl

# ---------------------------------------------------------------------------------------------
h_log "DNS"
dns_mx a.test mx1.a.test 10
dns_mx a.test mx2.a.test 20
dns_host mx1.a.test 127.0.0.5
dns_host mx2.a.test 127.0.0.6
dns_host mx2.a.test ::1
dns_host implicit.test 127.0.0.7
dns_null_mx nullmx.test
dns_nxdomain nx.test
dns_servfail sf.test
dns_timeout slow.test
start_dns

dns_is() {  # dns_is NAME TYPE EXPECTED-OUTPUT (answer lines sorted)
  local got
  got=$(dns_query "$1" "$2" | { read -r rcode; echo "$rcode"; sort; }) ||
    h_fail "dns_query $1 $2: no answer"
  assert_eq "DNS $1 $2" "$3" "$got"
}
dns_is a.test MX $'rcode=NOERROR\nMX 10 mx1.a.test\nMX 20 mx2.a.test'
dns_is mx1.a.test A $'rcode=NOERROR\nA 127.0.0.5'
dns_is mx2.a.test AAAA $'rcode=NOERROR\nAAAA ::1'
dns_is implicit.test MX 'rcode=NOERROR'
dns_is implicit.test A $'rcode=NOERROR\nA 127.0.0.7'
dns_is nullmx.test MX $'rcode=NOERROR\nMX 0 .'
dns_is nx.test MX 'rcode=NXDOMAIN'
dns_is host.nx.test A 'rcode=NXDOMAIN'
dns_is undefined.test MX 'rcode=NXDOMAIN'
dns_is sf.test MX 'rcode=SERVFAIL'
dns_is mx.sf.test A 'rcode=SERVFAIL'
if dns_query slow.test MX 1 >/dev/null 2>&1; then h_fail "slow.test was answered"; fi
h_log "ok: slow.test MX: no answer"
old_port=$DNS_PORT
dns_host late.test 127.0.0.9
restart_dns
assert_eq "DNS port after restart" "$old_port" "$DNS_PORT"
dns_is late.test A $'rcode=NOERROR\nA 127.0.0.9'
dns_is a.test MX $'rcode=NOERROR\nMX 10 mx1.a.test\nMX 20 mx2.a.test'

# ---------------------------------------------------------------------------------------------
h_log "sinks"
make_tls_cert "$SCRATCH/tls"
start_test_sink a 127.0.0.5 127.0.0.6,greeting=421
# shellcheck disable=SC2034  # read by start_test_sink: sink b offers no STARTTLS
TSINK_TLS_CERT='' TSINK_TLS_KEY=''
start_test_sink b 127.0.0.7,no_ehlo,max_rcpt_per_tx=2 127.0.0.8,drop_mid_data \
  127.0.0.9,reply_delay_ms=100,no_pipelining 127.0.0.10,greeting_delay_ms=300
P=$TSINK_SMTP_PORT

python3 - "$P" "${TSINK_MAILDIR[a]}" "${TSINK_MAILDIR[b]}" <<'PY' || h_fail "SMTP checks failed"
import smtplib, socket, ssl, sys, time
port, maildir_a, maildir_b = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def check(what, ok, detail=""):
    if not ok:
        sys.exit("FAIL: %s %s" % (what, detail))
    print("ok: " + what)

class Raw:
    """A raw client: sends bytes as given, reads replies (multi-line aware)."""
    def __init__(self, host):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""
    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.s.recv(65536)
                if not data:
                    return None
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return "\n".join(lines)
    def send(self, data):
        self.s.sendall(data)

def body_of(maildir, reply):
    qid = reply.rsplit(" ", 1)[1]
    return open("%s/msg.%s" % (maildir, qid), "rb").read()

# Pipelined multi-recipient transaction with faults, then a second transaction with RSET.
c = Raw("127.0.0.5")
check("greeting", c.reply().startswith("220 "))
c.send(b"EHLO client.test\r\n")
ehlo = c.reply()
for ext in ("PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
            "STARTTLS"):
    check("EHLO offers " + ext, ("250-" + ext) in ehlo or ("250 " + ext) in ehlo, ehlo)
c.send(b"MAIL FROM:<s@sender.test> BODY=8BITMIME\r\nRCPT TO:<r1@a.test>\r\n"
       b"RCPT TO:<t450-r2@a.test>\r\nRCPT TO:<p550-r3@a.test>\r\nRCPT TO:<R4@a.test>\r\nDATA\r\n")
codes = [c.reply()[:3] for _ in range(6)]
check("pipelined replies in order", codes == ["250", "250", "450", "550", "250", "354"], codes)
content = b"Subject: pipelined\r\n\r\n..leading dot\r\n..\r\nlast line \xc3\xa9\r\n"
sent = b"Subject: pipelined\r\n\r\n.leading dot\r\n.\r\nlast line \xc3\xa9\r\n"
c.send(content + b".\r\n")
r = c.reply()
check("end of data accepted", r.startswith("250 2.0.0 Ok: queued as 1."), r)
check("stored body byte for byte, dots unstuffed", body_of(maildir_a, r) == sent,
      repr(body_of(maildir_a, r)))
# t450 again: accepted now. Commands and content in one write, QUIT too.
c.send(b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<t450-r2@a.test>\r\nDATA\r\n")
codes = [c.reply()[:3] for _ in range(4)]
check("t450 second time accepted", codes == ["250", "250", "250", "354"], codes)
c.send(b"x\r\n.\r\nNOOP\r\nQUIT\r\n")
r = c.reply()
check("second transaction", r.startswith("250 2.0.0 Ok: queued as 1.2"), r)
check("NOOP", c.reply().startswith("250"))
check("QUIT", c.reply().startswith("221"))

# Bad commands, an overlong line, sequence errors.
c = Raw("127.0.0.5")
c.reply()
c.send(b"MAIL FROM:<a@b.test>\r\n")
check("MAIL before EHLO refused", c.reply().startswith("503"))
c.send(b"HELO client.test\r\nFROB\r\nRCPT TO:<x@a.test>\r\n" + b"A" * 70000 + b"\r\nNOOP\r\n")
codes = [c.reply()[:3] for _ in range(4)]
check("HELO, unknown command, RCPT without MAIL, overlong line",
      codes == ["250", "502", "503", "500"], codes)
check("session goes on after an overlong line", c.reply().startswith("250"))
c.send(b"MAIL FROM:<a@b.test> SIZE=99999999999\r\n")
check("SIZE over the limit refused", c.reply().startswith("552"))
c.send(b"QUIT\r\n")
c.reply()

# t450x3: refused three times, then accepted; p550 always; d451 once.
for attempt in range(1, 6):
    s = smtplib.SMTP("127.0.0.5", port, timeout=10)
    refused = {}
    try:
        refused = s.sendmail("s@sender.test", ["t450x3-r5@a.test", "p550-r6@a.test", "r7@a.test"],
                             b"Subject: t450x3\r\n\r\nattempt\r\n")
    finally:
        s.quit()
    check("attempt %d: p550 refused" % attempt, refused.get("p550-r6@a.test", (0,))[0] == 550)
    want = 450 if attempt <= 3 else None
    check("attempt %d: t450x3 %s" % (attempt, want),
          refused.get("t450x3-r5@a.test", (None,))[0] == want, refused)
s = smtplib.SMTP("127.0.0.5", port, timeout=10)
try:
    s.sendmail("s@sender.test", ["d451-r8@a.test", "r9@a.test"], b"d451\r\n")
    check("d451 first attempt refused", False)
except smtplib.SMTPDataError as e:
    check("d451 first attempt refused with 451", e.smtp_code == 451, e)
check("d451 second attempt accepted",
      s.sendmail("s@sender.test", ["d451-r8@a.test", "r9@a.test"], b"d451\r\n") == {})
s.quit()

# STARTTLS.
s = smtplib.SMTP("127.0.0.5", port, timeout=10)
s.ehlo("client.test")
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
s.starttls(context=context)
code, text = s.ehlo("client.test")
check("EHLO after STARTTLS", code == 250 and b"STARTTLS" not in text, text)
big = b"".join(b"line %06d with some text to make it longer ..............................\r\n" % i
               for i in range(20000))
s.sendmail("tls@sender.test", ["tls-rcpt@a.test"], b"Subject: tls\r\n\r\n" + big)
s.quit()

# greeting=421.
try:
    smtplib.SMTP("127.0.0.6", port, timeout=10)
    check("greeting 421", False)
except smtplib.SMTPConnectError as e:
    check("greeting 421", e.smtp_code == 421, e)

# no_ehlo: smtplib falls back to HELO; max_rcpt_per_tx=2.
s = smtplib.SMTP("127.0.0.7", port, timeout=10)
code, _ = s.ehlo("client.test")
check("no_ehlo: EHLO gets 500", code == 500)
s.helo("client.test")
refused = s.sendmail("s@sender.test", ["m1@b.test", "m2@b.test", "m3@b.test"], b"x\r\n")
check("max_rcpt_per_tx=2: third recipient 452", list(refused) == ["m3@b.test"]
      and refused["m3@b.test"][0] == 452, refused)
s.quit()

# drop_mid_data: the connection closes before the final reply.
s = smtplib.SMTP("127.0.0.8", port, timeout=10)
try:
    s.sendmail("s@sender.test", ["drop@b.test"], b"Subject: drop\r\n\r\n" + big)
    check("drop_mid_data", False)
except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
    check("drop_mid_data: disconnected (%s)" % type(e).__name__, True)

# reply_delay_ms=100 and no_pipelining.
s = smtplib.SMTP("127.0.0.9", port, timeout=10)
s.ehlo("client.test")
check("no_pipelining: not offered", not s.has_extn("pipelining"))
start = time.monotonic()
s.noop()
check("reply_delay_ms=100", time.monotonic() - start >= 0.09)
s.quit()

# greeting_delay_ms=300.
start = time.monotonic()
s = smtplib.SMTP("127.0.0.10", port, timeout=10)
check("greeting_delay_ms=300", time.monotonic() - start >= 0.29)
s.quit()
PY

# ---------------------------------------------------------------------------------------------
h_log "log and stats"
# a: 2 raw pipelined + 5 t450x3 + 1 d451 + 1 TLS = 9 transactions; 1 + 1 + 5 + 1 + 1 + 1 (421)
# = 10 connections.
wait_sink_stat a transactions 9
wait_sink_stat a connections 10
wait_sink_stat b connections 4
assert_eq "sink a transactions" 9 "$(sink_transactions a)"
assert_eq "sink a listener 127.0.0.6 connections" 1 "$(sink_stat a connections "127.0.0.6:$P")"
assert_eq "sink a listener 127.0.0.6 transactions" 0 "$(sink_stat a transactions "127.0.0.6:$P")"
assert_eq "sink a rcpt_rejected" 10 "$(sink_stat a rcpt_rejected)"
assert_eq "sink a data_rejected" 1 "$(sink_stat a data_rejected)"
want=$(printf '%s\n' R4@a.test d451-r8@a.test r1@a.test r7@a.test r7@a.test r7@a.test r7@a.test \
  r7@a.test r9@a.test t450-r2@a.test t450x3-r5@a.test t450x3-r5@a.test tls-rcpt@a.test | LC_ALL=C sort)
got=$(sink_recipients_received a | LC_ALL=C sort)
assert_eq "recipients received by a" "$want" "$got"
assert_eq "sink b transactions" 1 "$(sink_transactions b)"
assert_eq "sink b recipients" 2 "$(sink_stat b recipients)"
assert_grep "TLS transaction logged" '"tls":true,.*"from":"tls@sender.test"' "${TSINK_LOG[a]}"
assert_grep "drop_mid_data logged" '"event":"close".*"reason":"drop_mid_data"' "${TSINK_LOG[b]}"
assert_grep "greeting fault logged" '"event":"close".*"reason":"greeting"' "${TSINK_LOG[a]}"
assert_eq "stored messages of a" 9 "$(sink_messages a | wc -l)"
python3 - "${TSINK_LOG[a]}" <<'PY' || h_fail "log lines of a are not as documented"
import json, os, sys, time
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "event" in r:
        continue
    assert set(r) == {"conn", "listener", "tls", "id", "from", "rcpts", "size", "body", "t"}, r
    assert os.path.getsize(r["body"]) == r["size"], r
    assert isinstance(r["t"], float) and abs(r["t"] - time.time()) < 600, r
PY

# SIGTERM: exit status 0, a close line for the connection still open, final stats.
exec 3<>"/dev/tcp/127.0.0.5/$P"
h_wait_until 5 "the open connection counted" h_sink_stat_ge a connections 11
pid=${TSINK_PID[a]}
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
TSINK_PID[a]=
exec 3<&-
assert_eq "sink exit status after SIGTERM" 0 "$rc"
assert_grep "shutdown close logged" '"reason":"shutdown"' "${TSINK_LOG[a]}"
assert_eq "final stats: connections" 11 "$(sink_stat a connections)"

# Start-up failures: a taken address, a non-loopback address.
rc=0
"$TEST_SINK" --listen "127.0.0.7:$P" >"$SCRATCH/taken.out" 2>"$SCRATCH/taken.err" || rc=$?
assert_eq "exit status when the port is taken" 1 "$rc"
assert_grep "bind failure message" 'cannot listen on 127.0.0.7' "$SCRATCH/taken.err"
rc=0
"$TEST_SINK" --listen 192.0.2.1:2525 >/dev/null 2>"$SCRATCH/nonlo.err" || rc=$?
assert_eq "exit status for a non-loopback address" 2 "$rc"
assert_grep "non-loopback refused" 'refusing non-loopback' "$SCRATCH/nonlo.err"

# ---------------------------------------------------------------------------------------------
h_log "rate=R"
# 127.0.0.12: rate=5 (burst max(1, 5/5) = 1), two clients hammering it at once; 127.0.0.13:
# rate=20 (burst 4) with a custom reply, one pipelined burst.
# shellcheck disable=SC2034  # read by start_test_sink
TSINK_STORE=0
start_test_sink rate 127.0.0.12,rate=5 '127.0.0.13,rate=20,rate_reply=450 4.7.0 slow down please'
rate_want=15
python3 - "$P" "$rate_want" "$SCRATCH/rate-client.txt" <<'PY' || h_fail "rate checks failed"
import smtplib, socket, sys, threading, time
port, want, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def check(what, ok, detail=""):
    if not ok:
        sys.exit("FAIL: %s %s" % (what, detail))
    print("ok: " + what)

# Two connections to the rate=5 listener take transactions as fast as they are let: MAIL; on a
# refusal RSET and try again 10 ms later; until `want` transactions are accepted between them.
lock = threading.Lock()
accepted, refused, replies, errors = [0], [0], set(), []
def client():
    try:
        s = smtplib.SMTP("127.0.0.12", port, timeout=10)
        s.ehlo("client.test")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if accepted[0] >= want:
                    break
            code, text = s.mail("s@sender.test")
            if code != 250:
                with lock:
                    refused[0] += 1
                    replies.add("%d %s" % (code, text.decode()))
                s.rset()
                time.sleep(0.01)
                continue
            s.rcpt("r@rate.test")
            code, _ = s.data(b"Subject: rate\r\n\r\nx\r\n")
            with lock:
                if code == 250:
                    accepted[0] += 1
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        errors.append(repr(e))
threads = [threading.Thread(target=client) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check("rate=5 clients ran without errors", not errors, errors)
check("rate=5: %d transactions accepted (at least %d)" % (accepted[0], want), accepted[0] >= want)
check("rate=5: %d MAIL FROM refused" % refused[0], refused[0] > 0)
check("rate=5 refusal reply", replies == {"451 4.7.1 Too many messages, slow down"}, replies)

# rate=20: the bucket starts full (4 tokens); six MAIL/RSET pairs in one write: four accepted
# (RSET does not give the token back), then the custom reply; the session goes on.
c = socket.create_connection(("127.0.0.13", port), timeout=10)
f = c.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if line[3:4] != "-":
            return "\n".join(lines)
reply()
c.sendall(b"EHLO client.test\r\n")
reply()
c.sendall(b"MAIL FROM:<s@sender.test>\r\nRSET\r\n" * 6)
mails = [reply() for _ in range(12)][0::2]
check("rate=20 burst of 4 then the rate_reply",
      [m[:3] for m in mails] == ["250"] * 4 + ["450"] * 2 and
      mails[4] == "450 4.7.0 slow down please", mails)
c.sendall(b"NOOP\r\n")
check("session goes on after a rate refusal", reply().startswith("250"))
c.sendall(b"QUIT\r\n")
reply()
open(out, "w").write("%d %d\n" % (accepted[0], refused[0]))
PY
read -r rate_accepted rate_refused <"$SCRATCH/rate-client.txt"
wait_sink_stat rate transactions "$rate_accepted"
h_wait_until 5 "rate_rejected counted" h_sink_stat_ge rate rate_rejected $((rate_refused + 2))
assert_eq "sink rate: rate_rejected" $((rate_refused + 2)) "$(sink_stat rate rate_rejected)"
assert_eq "sink rate: rate_rejected of 127.0.0.12" "$rate_refused" \
  "$(sink_stat rate rate_rejected "127.0.0.12:$P")"
assert_eq "sink rate: rate_rejected of 127.0.0.13" 2 "$(sink_stat rate rate_rejected "127.0.0.13:$P")"
assert_eq "sink rate: transactions of 127.0.0.13" 0 "$(sink_stat rate transactions "127.0.0.13:$P")"
stop_test_sink rate
python3 - "${TSINK_LOG[rate]}" "127.0.0.12:$P" 5 "$rate_refused" <<'PY' ||
import json, sys
path, listener, rate, refused = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
burst = max(1.0, rate / 5)
stamps, refusals = [], 0
for line in open(path):
    r = json.loads(line)
    assert isinstance(r["t"], float), r
    if r.get("listener") != listener:
        continue
    if r.get("event") == "rate_rejected":
        assert set(r) == {"event", "conn", "listener", "t"}, r
        refusals += 1
    elif "event" not in r:
        stamps.append(r["t"])
stamps.sort()
assert refusals == refused, "%d rate_rejected lines, the clients saw %d" % (refusals, refused)
# In any one second at most R + burst transactions (the bucket's promise), sliding windows.
worst, j = 0, 0
for i in range(len(stamps)):
    while stamps[i] - stamps[j] > 1.0:
        j += 1
    worst = max(worst, i - j + 1)
assert worst <= rate + burst, "%d transactions within one second (at most %g)" % (worst, rate + burst)
span = stamps[-1] - stamps[0]
measured = (len(stamps) - burst) / span
print("ok: rate=5: %d transactions in %.2f s, %.2f/s after the burst; at most %d in any second "
      "(limit %g); %d rate_rejected lines" % (len(stamps), span, measured, worst, rate + burst,
                                               refusals))
assert rate * 0.6 <= measured <= rate * 1.1, "rate %.2f/s, not about %g/s" % (measured, rate)
PY
  h_fail "the rate=5 listener's log breaks its limit (see above)"
TSINK_STORE=1

# ---------------------------------------------------------------------------------------------
if [ "$bench" -eq 1 ]; then
  h_log "benchmark: smtp-source -d -s 50 -m 20000 -l 1024 (one connection per session)"
  # shellcheck disable=SC2034  # read by start_test_sink: store no message files
  TSINK_STORE=0
  start_test_sink bench 127.0.0.11
  start=$(date +%s.%N)
  "$POSTFIX_SBIN/smtp-source" -d -s 50 -m 20000 -l 1024 "127.0.0.11:$P" ||
    h_fail "smtp-source failed"
  end=$(date +%s.%N)
  wait_sink_stat bench transactions 20000
  h_log "$(python3 -c "import sys; print('%.0f msgs/s' % (20000 / (float(sys.argv[2]) - float(sys.argv[1]))))" "$start" "$end")"
fi
h_log "all checks passed"
