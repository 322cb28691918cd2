# shellcheck shell=bash disable=SC2034  # variables here are read by the scenarios that source it
# integration/lib/delivery_harness.sh — sourced after harness.sh by the delivery scenarios: SMTP
# sinks with fault injection (bulkq_test_sink) on loopback addresses, and a DNS server (dnsmasq)
# on 127.0.0.1 serving the test zone (names under the ".test" TLD). Loopback only; every port is
# picked free at run time; every process is stopped by its pid (h_on_exit).
#
# SMTP sinks (integration/tools/test_sink.cpp; its header comment lists the faults):
#   start_test_sink NAME LISTEN_SPEC...
#       LISTEN_SPEC is ADDR[:PORT][,OPTION...], e.g. 127.0.0.5  127.0.0.7,greeting=421
#       127.0.0.8,reply_delay_ms=200,no_pipelining. Without :PORT the listener gets
#       $TSINK_SMTP_PORT, one free port picked on first use and shared by every sink's listeners
#       (bulkqd connects to every MX host on one port, so the hosts differ by address only).
#       Files under $SCRATCH/sinks/NAME: log.jsonl (--log), stats.json (--stats), mail/ (--maildir),
#       stdout, stderr. STARTTLS is offered when TSINK_TLS_CERT and TSINK_TLS_KEY are set (see
#       make_tls_cert); with TSINK_STORE=0 they store no message files (benchmarks).
#       NAME: letters, digits, _ and -.
#     Sets: TSINK_PID[NAME], TSINK_DIR[NAME], TSINK_LOG[NAME], TSINK_STATS[NAME],
#           TSINK_MAILDIR[NAME], TSINK_LISTEN[NAME] (the listeners, "ADDR:PORT ADDR:PORT")
#           and TSINK_SMTP_PORT.
#   stop_test_sink NAME            SIGTERM by pid (the sink flushes its log and stats, exits 0).
#   sink_stat NAME FIELD [LISTENER] a counter from stats.json (connections, transactions,
#                                  recipients, rcpt_rejected, data_rejected), for the whole sink or
#                                  one listener ("127.0.0.5:PORT"). Stats lag up to 200 ms: poll.
#   sink_transactions NAME / sink_connections NAME
#   wait_sink_stat NAME FIELD MIN [SECONDS]   until the counter is >= MIN (bounded).
#   sink_recipients_received NAME  every recipient of every accepted transaction, sorted, one per
#                                  line (from the log, which lags up to 20 ms).
#   sink_messages NAME             the stored messages (mail/msg.<conn>.<n>), one path per line.
#   make_tls_cert DIR              self-signed cert.pem/key.pem in DIR; sets TSINK_TLS_CERT/KEY.
#
# DNS (dnsmasq; records are command-line options, so add them before start_dns, or restart_dns):
#   dns_mx DOMAIN HOST PREF        MX record
#   dns_host HOST ADDR             A (or AAAA) record; repeat for several addresses
#   dns_nxdomain DOMAIN            DOMAIN and every name below it: NXDOMAIN
#   dns_null_mx DOMAIN             "MX 0 ." (RFC 7505)
#   dns_servfail DOMAIN            SERVFAIL for DOMAIN and every name below it
#   dns_timeout DOMAIN             no answer at all for DOMAIN and below (resolver timeouts)
#   start_dns / stop_dns / restart_dns   (restart keeps DNS_PORT and picks up new records)
#   dns_query NAME TYPE            asks the server (python3, UDP): first line "rcode=NAME", then
#                                  one line per answer ("MX 10 mx1.a.test", "A 127.0.0.5").
#   Sets: DNS_PORT (UDP and TCP on 127.0.0.1), DNS_SERVER ("127.0.0.1:PORT"), DNS_PID, DNS_LOG.
#   DNS_TTL (default 60) is the TTL of every record, set before start_dns.
#
# What dnsmasq 2.90 does (checked with real queries by integration/tools/test_sink_selftest.sh):
#   - --local=/test/: the zone is answered from the command line only, never forwarded; a name
#     under .test with no record is NXDOMAIN; a name with an A record but no MX answers MX queries
#     with NOERROR and no answer (implicit MX).
#   - NXDOMAIN on purpose: --address=/DOMAIN/ (no address) = "local only" for that subtree.
#   - null MX: --mx-host=DOMAIN,.,0 answers "MX 0 ." (empty exchange name).
#   - SERVFAIL: dnsmasq has no option that answers SERVFAIL for local data (forwarding a domain to
#     a closed port gives no answer at all; --server=/D/# with no upstream gives REFUSED), but it
#     passes an upstream's SERVFAIL through uncached. So --server=/DOMAIN/127.0.0.1#P forwards to a
#     tiny python3 responder on port P (started by start_dns) that answers SERVFAIL to every
#     query — or, for dns_timeout domains, never answers.

TEST_SINK=${TEST_SINK:-$H_BUILD/integration/bulkq_test_sink}
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
# Seconds a sink or dnsmasq may take to come up.
TSINK_START_TIMEOUT=${TSINK_START_TIMEOUT:-10}

declare -gA TSINK_PID=() TSINK_DIR=() TSINK_LOG=() TSINK_STATS=() TSINK_MAILDIR=() TSINK_LISTEN=()
TSINK_SMTP_PORT=${TSINK_SMTP_PORT:-}
TSINK_TLS_CERT=${TSINK_TLS_CERT:-}
TSINK_TLS_KEY=${TSINK_TLS_KEY:-}
# 0: the sinks started from now on store no message files (benchmarks).
TSINK_STORE=${TSINK_STORE:-1}

# ---------------------------------------------------------------------------------------------
# SMTP sinks

start_test_sink() {
  local name=$1
  shift
  case "$name" in '' | *[!A-Za-z0-9_-]*) h_fail "start_test_sink: bad sink name '$name'" ;; esac
  [ $# -gt 0 ] || h_fail "start_test_sink $name: no listener"
  [ -z "${TSINK_PID[$name]:-}" ] || h_fail "start_test_sink: sink $name is already running"
  h_need "$TEST_SINK"
  local dir=$SCRATCH/sinks/$name
  mkdir -p "$dir/mail"
  TSINK_DIR[$name]=$dir
  TSINK_LOG[$name]=$dir/log.jsonl
  TSINK_STATS[$name]=$dir/stats.json
  TSINK_MAILDIR[$name]=$dir/mail
  local picked=0 attempt spec endpoint options listen
  [ -n "$TSINK_SMTP_PORT" ] || { h_free_port TSINK_SMTP_PORT; picked=1; }
  for attempt in 1 2 3; do
    local args=(--log "${TSINK_LOG[$name]}" --stats "${TSINK_STATS[$name]}")
    [ "$TSINK_STORE" -eq 1 ] && args+=(--maildir "${TSINK_MAILDIR[$name]}")
    [ -n "$TSINK_TLS_CERT" ] && args+=(--tls-cert "$TSINK_TLS_CERT" --tls-key "$TSINK_TLS_KEY")
    listen=
    for spec in "$@"; do
      endpoint=${spec%%,*}
      options=
      [ "$endpoint" != "$spec" ] && options=,${spec#*,}
      case "$endpoint" in *:*) ;; *) endpoint=$endpoint:$TSINK_SMTP_PORT ;; esac
      args+=(--listen "$endpoint$options")
      listen="$listen${listen:+ }$endpoint"
    done
    TSINK_LISTEN[$name]=$listen
    : >"$dir/stdout"
    "$TEST_SINK" "${args[@]}" >"$dir/stdout" 2>>"$dir/stderr" &
    TSINK_PID[$name]=$!
    if h_try_until "$TSINK_START_TIMEOUT" h_test_sink_up "$name"; then
      if grep -qx ready "$dir/stdout"; then
        h_on_exit stop_test_sink "$name"
        h_log "test sink $name pid ${TSINK_PID[$name]} on $listen"
        return 0
      fi
    fi
    h_stop_pid "${TSINK_PID[$name]}" "test sink $name" 2
    TSINK_PID[$name]=
    # Lost a port we picked ourselves to someone else between picking and binding: pick again.
    if [ "$picked" -eq 1 ] && grep -q 'cannot listen' "$dir/stderr"; then
      h_free_port TSINK_SMTP_PORT
      continue
    fi
    break
  done
  h_fail "test sink $name did not start: $(tail -n 3 "$dir/stderr" 2>/dev/null)"
}
# Up (printed "ready") or gone (failed to start): either way, stop waiting.
h_test_sink_up() {
  grep -qx ready "${TSINK_DIR[$1]}/stdout" 2>/dev/null || h_pid_gone "${TSINK_PID[$1]}"
}

stop_test_sink() {
  local pid=${TSINK_PID[$1]:-}
  [ -n "$pid" ] || return 0
  h_stop_pid "$pid" "test sink $1" 10
  TSINK_PID[$1]=
}

# sink_stat NAME FIELD [LISTENER]
sink_stat() {
  python3 - "${TSINK_STATS[$1]:-}" "$2" "${3:-}" <<'PY' || h_fail "sink_stat $*: cannot read the stats"
import json, sys
path, field, listener = sys.argv[1:4]
stats = json.load(open(path))
if listener:
    stats = stats["per_listener"][listener]
print(stats[field])
PY
}
sink_transactions() { sink_stat "$1" transactions; }
sink_connections() { sink_stat "$1" connections; }

h_sink_stat_ge() { [ "$(sink_stat "$1" "$2" 2>/dev/null)" -ge "$3" ] 2>/dev/null; }

# wait_sink_stat NAME FIELD MIN [SECONDS]
wait_sink_stat() {
  h_wait_until "${4:-$H_TIMEOUT}" "sink $1: $2 >= $3 (now $(sink_stat "$1" "$2" 2>/dev/null))" \
    h_sink_stat_ge "$1" "$2" "$3"
}

# sink_recipients_received NAME: the recipients of the accepted transactions (log lines without
# an "event" member), sorted, one per line, duplicates kept.
sink_recipients_received() {
  [ -f "${TSINK_LOG[$1]:-}" ] || return 0
  python3 - "${TSINK_LOG[$1]}" <<'PY'
import json, sys
rcpts = []
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        record = json.loads(line)
        if "event" not in record:
            rcpts.extend(record["rcpts"])
for rcpt in sorted(rcpts):
    print(rcpt)
PY
}

sink_messages() { find "${TSINK_MAILDIR[$1]}" -maxdepth 1 -type f -name 'msg.*' | sort; }

# make_tls_cert DIR: a self-signed certificate for the sinks' STARTTLS (the client does not
# verify it).
make_tls_cert() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bulkq-test-sink.test -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 ||
    h_fail "openssl could not make a self-signed certificate in $1"
  TSINK_TLS_CERT=$1/cert.pem
  TSINK_TLS_KEY=$1/key.pem
}

# ---------------------------------------------------------------------------------------------
# DNS

DNS_PORT=
DNS_SERVER=
DNS_PID=
DNS_LOG=
DNS_TTL=${DNS_TTL:-60}
DNS_RECORDS=()       # dnsmasq options, one per record
DNS_FAIL_DOMAINS=()  # forwarded to the fake upstream: SERVFAIL
DNS_MUTE_DOMAINS=()  # forwarded to the fake upstream: no answer
DNS_UPSTREAM_PORT=
DNS_UPSTREAM_PID=
H_DNS_CLEANUP=0

dns_mx() { DNS_RECORDS+=("--mx-host=$1,$2,$3"); }
dns_host() { DNS_RECORDS+=("--host-record=$1,$2"); }
dns_nxdomain() { DNS_RECORDS+=("--address=/$1/"); }
dns_null_mx() { DNS_RECORDS+=("--mx-host=$1,.,0"); }
dns_servfail() { DNS_FAIL_DOMAINS+=("$1"); }
dns_timeout() { DNS_MUTE_DOMAINS+=("$1"); }

start_dns() {
  [ -z "$DNS_PID" ] || h_fail "start_dns: dnsmasq (pid $DNS_PID) is already running"
  h_need "$DNSMASQ" python3
  mkdir -p "$SCRATCH/dns"
  DNS_LOG=$SCRATCH/dns/dnsmasq.log
  if [ "$H_DNS_CLEANUP" -eq 0 ]; then
    h_on_exit stop_dns
    H_DNS_CLEANUP=1
  fi
  h_dns_start_upstream
  local keep_port=0 attempt
  [ -n "$DNS_PORT" ] && keep_port=1
  for attempt in 1 2 3 4 5; do
    [ "$keep_port" -eq 1 ] || h_free_port DNS_PORT
    local args=(--no-daemon --no-resolv --no-hosts --conf-file=/dev/null --pid-file=
      "--port=$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --log-facility=-
      --log-queries "--local-ttl=$DNS_TTL" --local=/test/ "${DNS_RECORDS[@]}")
    local domain
    for domain in "${DNS_FAIL_DOMAINS[@]}" "${DNS_MUTE_DOMAINS[@]}"; do
      args+=("--server=/$domain/127.0.0.1#$DNS_UPSTREAM_PORT")
    done
    printf '==== dnsmasq start at %s: %s\n' "$(date +%H:%M:%S.%N)" "${args[*]}" >>"$DNS_LOG"
    "$DNSMASQ" "${args[@]}" >>"$DNS_LOG" 2>&1 &
    DNS_PID=$!
    DNS_SERVER=127.0.0.1:$DNS_PORT
    # Answers once bound (dnsmasq exits at once when the port is taken: try another).
    if h_try_until "$TSINK_START_TIMEOUT" h_dns_up; then
      if h_pid_alive "$DNS_PID"; then
        h_log "dnsmasq pid $DNS_PID on $DNS_SERVER (${#DNS_RECORDS[@]} record option(s))"
        return 0
      fi
    fi
    h_stop_pid "$DNS_PID" dnsmasq 2
    DNS_PID=
    # restart_dns keeps its port; the old socket may linger for a moment.
    [ "$keep_port" -eq 1 ] && sleep 0.2
  done
  h_fail "dnsmasq did not start on 127.0.0.1:$DNS_PORT (see $DNS_LOG)"
}
h_dns_up() { h_pid_gone "$DNS_PID" || dns_query bulkq-dns-probe.test A >/dev/null 2>&1; }

stop_dns() {
  if [ -n "$DNS_PID" ]; then
    h_stop_pid "$DNS_PID" dnsmasq 5
    DNS_PID=
  fi
  if [ -n "$DNS_UPSTREAM_PID" ]; then
    h_stop_pid "$DNS_UPSTREAM_PID" "fake DNS upstream" 5
    DNS_UPSTREAM_PID=
  fi
}

# restart_dns: the same DNS_PORT, the records as they are now.
restart_dns() {
  stop_dns
  start_dns
}

# The SERVFAIL/no-answer upstream for dns_servfail and dns_timeout domains (only when needed).
h_dns_start_upstream() {
  [ $((${#DNS_FAIL_DOMAINS[@]} + ${#DNS_MUTE_DOMAINS[@]})) -gt 0 ] || return 0
  local attempt
  for attempt in 1 2 3; do
    h_free_port DNS_UPSTREAM_PORT
    : >"$SCRATCH/dns/upstream.out"
    python3 -u - "$DNS_UPSTREAM_PORT" "${DNS_MUTE_DOMAINS[@]}" >"$SCRATCH/dns/upstream.out" \
      2>>"$SCRATCH/dns/upstream.log" <<'PY' &
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
mute = [d.lower().rstrip(".") for d in sys.argv[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready")
def qname(q):
    labels, i = [], 12
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    return ".".join(labels).lower()
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    name = qname(q)
    if any(name == d or name.endswith("." + d) for d in mute):
        continue
    # Same id and question; QR, RD copied, RA, RCODE 2 (SERVFAIL); no records.
    flags = 0x8000 | (q[2] & 0x01) << 8 | 0x80 | 2
    s.sendto(q[:2] + flags.to_bytes(2, "big") + q[4:6] + bytes(6) + q[12:], peer)
PY
    DNS_UPSTREAM_PID=$!
    if h_try_until 5 grep -qx ready "$SCRATCH/dns/upstream.out"; then return 0; fi
    h_stop_pid "$DNS_UPSTREAM_PID" "fake DNS upstream" 2
    DNS_UPSTREAM_PID=
  done
  h_fail "the fake DNS upstream did not start (see $SCRATCH/dns/upstream.log)"
}

# dns_query NAME TYPE [SECONDS]: one UDP query to DNS_PORT; fails (status 1) on no answer.
dns_query() {
  python3 - "$DNS_PORT" "$1" "$2" "${3:-2}" <<'PY'
import random, socket, struct, sys
port, name, qtype, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3].upper(), float(sys.argv[4])
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
qid = random.randrange(65536)
query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
for label in name.rstrip(".").split("."):
    query += bytes([len(label)]) + label.encode()
query += b"\0" + struct.pack(">HH", TYPES[qtype], 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(timeout)
s.sendto(query, ("127.0.0.1", port))
try:
    while True:
        reply = s.recv(4096)
        if reply[:2] == query[:2]:
            break
except socket.timeout:
    sys.exit("no answer from 127.0.0.1:%d for %s %s" % (port, name, qtype))
def read_name(msg, i):
    labels, end = [], None
    while msg[i]:
        if msg[i] & 0xC0 == 0xC0:
            end = end or i + 2
            i = ((msg[i] & 0x3F) << 8) | msg[i + 1]
            continue
        labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii", "replace"))
        i += 1 + msg[i]
    return ".".join(labels) or ".", end or i + 1
flags, qd, an = struct.unpack(">HHH", reply[2:8])
print("rcode=%s" % RCODES.get(flags & 0xF, flags & 0xF))
i = 12
for _ in range(qd):
    i = read_name(reply, i)[1] + 4
for _ in range(an):
    i = read_name(reply, i)[1]
    rtype, _, _, length = struct.unpack(">HHIH", reply[i:i + 10])
    data = reply[i + 10:i + 10 + length]
    if rtype == 1:
        print("A " + socket.inet_ntop(socket.AF_INET, data))
    elif rtype == 28:
        print("AAAA " + socket.inet_ntop(socket.AF_INET6, data))
    elif rtype == 15:
        print("MX %d %s" % (struct.unpack(">H", data[:2])[0], read_name(reply, i + 12)[0]))
    else:
        print("TYPE%d %s" % (rtype, data.hex()))
    i += 10 + length
PY
}
