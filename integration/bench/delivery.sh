#!/usr/bin/env bash
# Delivery benchmark: Postfix delivering natively vs Postfix + bulkq delivering, on one machine.
#
# One Postfix instance (integration/lib/harness.sh: own config and queue, loopback only, free
# ports), one DNS server (dnsmasq) and one bulkq_test_sink process with one listener per
# destination domain: domain dJ.campaign.test (J = 0..199) has MX mxJ.campaign.test, whose A record
# is 127.0.1.(J+1), all on one free port. 1 KB messages (List-Unsubscribe: bulk for bulkq's
# default rules), recipients drawn with a Zipf(1) skew over the 200 domains, injected by a small
# pipelining SMTP client (BULKQ_BENCH_CONNECTIONS parallel sessions, many messages each).
#
#   Postfix    Postfix delivers itself (no milter). Its smtp client uses the system resolver,
#              which cannot be pointed at dnsmasq on a high port, so the campaign domains are
#              routed with transport_maps (dJ.campaign.test smtp:[127.0.1.(J+1)]:PORT): the same
#              sink addresses the MX records give bulkq; Postfix is spared the DNS lookups, so the
#              comparison favours Postfix. Every other Postfix setting is its default (qmgr
#              concurrency: default_destination_concurrency_limit = 20, default_process_limit =
#              100, smtp_connection_cache_on_demand = yes).
#   bulkq      Postfix with bulkqd as its milter; bulkqd delivers (direct mode, MX through
#              dnsmasq, max_connections / max_connections_per_domain / max_messages_per_connection
#              at their defaults; log level info, like Postfix's maillog).
#
# Runs (each on a freshly started sink, so its counters are that run's alone):
#   ceiling    smtp-source -d -s 20 → smtp-sink (and → bulkq_test_sink), 20 000 x 1 KB: loopback
#   pf10/bq10  end to end, N messages x 10 recipients (domains drawn independently, so ≈ 8
#              domain transactions per message): first injection → last sink acceptance
#   drain10    bulkqd with delivery off: N x 10 injected and held; bulkqd stopped and restarted
#              with delivery on: start → last sink acceptance (transactions/s)
#   pf1/bq1    end to end, N messages x 1 recipient
# "Last sink acceptance" = the mtime of the sink's stats file once it counts every recipient (the
# sink rewrites it within 200 ms of a change). Connections and transactions come from the sink's
# stats for Postfix and bulkq alike.
#
#   integration/bench/delivery.sh                          N = 20 000 (the issue's figures)
#   BULKQ_BENCH_SCALE=0.1 integration/bench/delivery.sh    N = 2 000 (a quick run)
#   BULKQ_BENCH_MESSAGES=5000 integration/bench/delivery.sh
#   BULKQ_BENCH_RUNS="ceiling bq10" integration/bench/delivery.sh   only some runs
#   BULKQ_BENCH_DELIVERY_EXTRA=$'max_connections_per_domain = 2' ...  more [delivery] keys
# Needs root; binaries from BULKQ_BUILD_DIR (scripts/bench delivery uses build/bench-delivery).
# Prints figures; asserts nothing about speed (a run whose recipients did not all arrive is
# flagged CHECK).
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"

scale=${BULKQ_BENCH_SCALE:-1}
messages=${BULKQ_BENCH_MESSAGES:-$(awk -v s="$scale" 'BEGIN { n = int(20000 * s + 0.5); print (n < 1 ? 1 : n) }')}
domains=200
connections=${BULKQ_BENCH_CONNECTIONS:-10}
runs=${BULKQ_BENCH_RUNS:-ceiling pf10 bq10 drain10 pf1 bq1}
ceiling_messages=${BULKQ_BENCH_CEILING_MESSAGES:-20000}
# bulkq's delivery.max_messages_per_connection; empty: its default (1000). At 1000, the ≈ 168 000
# transactions of 20 000 x 10 need at least ≈ 170 connections whatever the scheduling.
per_connection=${BULKQ_BENCH_MESSAGES_PER_CONNECTION:-}
# Seconds one run (injection, then delivery) may take before it is flagged and abandoned.
run_timeout=${BULKQ_BENCH_TIMEOUT:-900}

# shellcheck disable=SC2034  # H_TIMEOUT, TSINK_STORE, POSTFIX_EXTRA_MAIN_CF: read by the harness
H_TIMEOUT=120
# shellcheck disable=SC2034
TSINK_STORE=0
h_init delivery-bench
h_need "$BULKQD" "$BULKQCTL" "$TEST_SINK"
bench_start=$SECONDS

# ---------------------------------------------------------------------------------------------
# The injector: a pipelining SMTP client (MAIL, RCPT x k, DATA in one write; then the content),
# so the client costs little CPU on this 2-core machine. Writes a JSON summary: messages,
# recipients, transactions (distinct domains per message, summed: what a per-domain delivery
# must open), start/end (epoch seconds), errors.
cat >"$SCRATCH/inject.py" <<'PY'
import argparse, bisect, email.utils, json, random, socket, sys, threading, time
p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--messages", type=int, required=True)
p.add_argument("--rcpts", type=int, required=True)
p.add_argument("--domains", type=int, default=200)
p.add_argument("--connections", type=int, default=10)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--tag", default="b")
p.add_argument("--summary", required=True)
a = p.parse_args()
rng = random.Random(a.seed)
cum, tot = [], 0.0
for k in range(a.domains):
    tot += 1.0 / (k + 1)
    cum.append(tot)
sender = "news@campaign-sender.test"
body = "\r\n".join("line %02d of the campaign body, padding to about one kilobyte......" % i
                   for i in range(15))
date = email.utils.formatdate()
plan, transactions = [], 0
for m in range(a.messages):
    doms = [bisect.bisect_left(cum, rng.random() * tot) for _ in range(a.rcpts)]
    transactions += len(set(doms))
    rcpts = ["u%s%dx%d@d%d.campaign.test" % (a.tag, m, i, d) for i, d in enumerate(doms)]
    env = ("MAIL FROM:<%s>\r\n" % sender + "".join("RCPT TO:<%s>\r\n" % r for r in rcpts)
           + "DATA\r\n").encode()
    msg = ("From: Campaign <%s>\r\nTo: subscribers@campaign.test\r\nSubject: campaign %s %d\r\n"
           "List-Unsubscribe: <mailto:unsub@campaign.test>\r\nMessage-ID: <bench-%s-%d@campaign-sender.test>\r\n"
           "Date: %s\r\n\r\n%s\r\n.\r\n" % (sender, a.tag, m, a.tag, m, date, body)).encode()
    plan.append((env, msg, len(rcpts)))
errors, lock = [], threading.Lock()
def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), b"".join(lines)
def worker(i):
    try:
        s = socket.create_connection(("127.0.0.1", a.port), timeout=120)
        f = s.makefile("rb")
        if reply(f)[0] != 220: raise OSError("greeting")
        s.sendall(b"EHLO inject.bulkq.test\r\n")
        if reply(f)[0] != 250: raise OSError("EHLO")
        for env, msg, k in plan[i::a.connections]:
            s.sendall(env)
            for _ in range(k + 1):
                code, text = reply(f)
                if code != 250: raise OSError("envelope: %r" % text)
            code, text = reply(f)
            if code != 354: raise OSError("DATA: %r" % text)
            s.sendall(msg)
            code, text = reply(f)
            if code != 250: raise OSError("end of data: %r" % text)
        s.sendall(b"QUIT\r\n")
        reply(f)
        s.close()
    except (OSError, ValueError) as e:
        with lock:
            errors.append(str(e))
threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.connections)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
end = time.time()
json.dump({"messages": a.messages, "recipients": a.messages * a.rcpts, "transactions": transactions,
           "start": start, "end": end, "errors": errors}, open(a.summary, "w"))
sys.exit(1 if errors else 0)
PY

# ---------------------------------------------------------------------------------------------
# DNS, the sink's listeners, Postfix's transport map

listeners=()
: >"$SCRATCH/transport"
for ((j = 0; j < domains; j++)); do
  addr=127.0.1.$((j + 1))
  dns_host "mx$j.campaign.test" "$addr"
  dns_mx "d$j.campaign.test" "mx$j.campaign.test" 10
  listeners+=("$addr")
done
start_dns
start_sink nodump
# A first sink picks TSINK_SMTP_PORT (kept for the later ones), needed by the transport map.
start_test_sink warmup "${listeners[@]}" >/dev/null
stop_test_sink warmup
for ((j = 0; j < domains; j++)); do
  printf 'd%d.campaign.test smtp:[127.0.1.%d]:%s\n' "$j" $((j + 1)) "$TSINK_SMTP_PORT"
done >"$SCRATCH/transport"
chmod 0644 "$SCRATCH/transport"
# In main.cf on every (re)write of it by the harness.
# shellcheck disable=SC2034
POSTFIX_EXTRA_MAIN_CF="transport_maps = texthash:$SCRATCH/transport"
start_postfix nomilter
pf_mode=nomilter

write_bulkq_toml "$SCRATCH/bulkq-off.toml" $'[delivery]\nenabled = false'
write_bulkq_toml "$SCRATCH/bulkq-on.toml" \
  "$(printf '[delivery]\nport = %s\nhelo_name = "bulkq.test"%s%s' "$TSINK_SMTP_PORT" \
    "${per_connection:+$'\n'max_messages_per_connection = $per_connection}" \
    "${BULKQ_BENCH_DELIVERY_EXTRA:+$'\n'$BULKQ_BENCH_DELIVERY_EXTRA}")" \
  "$(printf '[dns]\nservers = ["%s"]\ncache_directory = "%s"' "$DNS_SERVER" "$SCRATCH/dnscache")"

postfix_mode() {  # postfix_mode nomilter|milters
  [ "$pf_mode" = "$1" ] && return 0
  reload_postfix "$1"
  pf_mode=$1
  sleep 2  # the reload replaces the smtpd processes; let the new configuration settle
}

# bulkqd_cpu: bulkqd's CPU time so far (user + system), seconds.
bulkqd_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' \
    "/proc/$BULKQD_PID/stat" 2>/dev/null || echo "?"
}

fresh_bulkqd() {  # fresh_bulkqd CONFIG: empty journal and DNS cache (a cold start)
  rm -rf "$JOURNAL_DIR" "$SCRATCH/dnscache"
  start_bulkqd "$1"
}

# sink_counter NAME FIELD: the sink-wide counter, read without python (polled often).
sink_counter() {
  local head
  head=$(sed -nE 's/^(\{[^{]*)"per_listener".*/\1/p' "${TSINK_STATS[$1]}" 2>/dev/null)
  head=${head#*\"$2\":}
  head=${head%%[!0-9]*}
  printf '%s' "$head"
}
h_sink_counter_ge() { local v; v=$(sink_counter "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }
# The sink's stats file's mtime, epoch seconds with fractions.
stats_mtime() { python3 -c 'import os, sys; print("%.3f" % os.stat(sys.argv[1]).st_mtime)' "${TSINK_STATS[$1]}"; }
summary() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# inject RUN RCPTS: sets INJ (the summary file); flags CHECK on injector errors. The seed is the
# recipient count: runs with the same count send the same domain draws (only the names differ).
inject() {
  local seed=$2
  INJ=$SCRATCH/$1.inject.json
  timeout "$run_timeout" python3 "$SCRATCH/inject.py" --port "$SMTP_PORT" --messages "$messages" \
    --rcpts "$2" --domains "$domains" --connections "$connections" --seed "$seed" --tag "$1" \
    --summary "$INJ" >"$SCRATCH/$1.inject.log" 2>&1 || {
    h_log "warning: the injector failed: $(tail -n 3 "$SCRATCH/$1.inject.log") $(cat "$INJ" 2>/dev/null | cut -c1-300)"
    RUN_OK=CHECK
  }
}

# wait_sink RUN: until the sink counts every injected recipient; sets END (epoch).
wait_sink() {
  local want
  want=$(summary "$INJ" recipients)
  if ! h_try_until "$run_timeout" h_sink_counter_ge "$1" recipients "$want"; then
    h_log "warning: $1: the sink has $(sink_counter "$1" recipients) of $want recipients after ${run_timeout}s"
    RUN_OK=CHECK
  fi
  sleep 0.5  # the final stats rewrite
  END=$(stats_mtime "$1")
}

declare -A R=()  # R[run.field]: the figures
record() {  # record RUN START END: figures from the sink's counters and the injector's summary
  local run=$1 start=$2 end=$3
  R[$run.ok]=$RUN_OK
  R[$run.elapsed]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  R[$run.messages]=$(summary "$INJ" messages)
  R[$run.recipients]=$(sink_counter "$run" recipients)
  R[$run.transactions]=$(sink_counter "$run" transactions)
  R[$run.expected_tx]=$(summary "$INJ" transactions)
  R[$run.connections]=$(sink_counter "$run" connections)
  local is ie
  is=$(summary "$INJ" start)
  ie=$(summary "$INJ" end)
  R[$run.inject_rate]=$(awk -v n="${R[$run.messages]}" -v a="$is" -v b="$ie" 'BEGIN { printf "%.1f", n / (b - a) }')
  R[$run.lag]=$(awk -v a="$ie" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  R[$run.msg_rate]=$(awk -v n="${R[$run.messages]}" -v t="${R[$run.elapsed]}" 'BEGIN { printf "%.1f", n / t }')
  R[$run.tx_rate]=$(awk -v n="${R[$run.transactions]}" -v t="${R[$run.elapsed]}" 'BEGIN { printf "%.1f", n / t }')
  R[$run.per_conn]=$(awk -v n="${R[$run.transactions]}" -v c="${R[$run.connections]}" 'BEGIN { printf "%.1f", c ? n / c : 0 }')
  h_log "$run: ${R[$run.messages]} msgs, ${R[$run.recipients]} rcpts, ${R[$run.transactions]} tx (planned ${R[$run.expected_tx]}), ${R[$run.connections]} conns in ${R[$run.elapsed]} s: ${R[$run.msg_rate]} msg/s, ${R[$run.tx_rate]} tx/s, ${R[$run.per_conn]} tx/conn; injection ${R[$run.inject_rate]} msg/s, last acceptance ${R[$run.lag]} s after the last injection [${RUN_OK}]"
}

# run_e2e RUN postfix|bulkq RCPTS
run_e2e() {
  local run=$1 mode=$2 rcpts=$3
  RUN_OK=ok
  h_log "$run: end to end, $mode, $messages x $rcpts recipient(s)"
  start_test_sink "$run" "${listeners[@]}" >/dev/null
  if [ "$mode" = bulkq ]; then
    postfix_mode milters
    fresh_bulkqd "$SCRATCH/bulkq-on.toml"
  else
    postfix_mode nomilter
  fi
  inject "$run" "$rcpts"
  wait_sink "$run"
  record "$run" "$(summary "$INJ" start)" "$END"
  if [ "$mode" = bulkq ]; then
    R[$run.bulkq]="$(status_field delivery.sent delivery.deferred delivery.bounced delivery.connections | tr '\n' ' '); bulkqd CPU $(bulkqd_cpu) s"
    h_try_until 60 h_status_is messages -eq 0 || { h_log "warning: $run: bulkqd still holds $(status_field messages) message(s)"; R[$run.ok]=CHECK; }
    stop_bulkqd
  else
    h_try_until 120 h_queue_empty || { h_log "warning: $run: Postfix's queue still has $(queue_busy_count) file(s)"; R[$run.ok]=CHECK; }
  fi
  stop_test_sink "$run"
}

# run_drain RUN RCPTS: held first (delivery off), then delivered from a fresh start.
run_drain() {
  local run=$1 rcpts=$2
  RUN_OK=ok
  h_log "$run: drain, $messages x $rcpts recipient(s) held first"
  start_test_sink "$run" "${listeners[@]}" >/dev/null
  postfix_mode milters
  fresh_bulkqd "$SCRATCH/bulkq-off.toml"
  inject "$run" "$rcpts"
  h_try_until "$run_timeout" h_status_is messages -ge "$messages" || RUN_OK=CHECK
  h_try_until 60 h_status_is pending_commit -eq 0 || RUN_OK=CHECK
  h_try_until 60 h_hold_complete_is "$messages" || RUN_OK=CHECK
  R[$run.held]="$(hold_complete_count) held, $(status_field recipients) recipients queued, bulkqd CPU for the intake $(bulkqd_cpu) s"
  stop_bulkqd
  rm -rf "$SCRATCH/dnscache"
  local t0
  t0=$(date +%s.%N)
  start_bulkqd "$SCRATCH/bulkq-on.toml"
  wait_sink "$run"
  record "$run" "$t0" "$END"
  R[$run.lag]=-
  R[$run.bulkq]="$(status_field delivery.sent delivery.deferred delivery.bounced delivery.connections | tr '\n' ' '); bulkqd CPU $(bulkqd_cpu) s"
  h_try_until 60 h_status_is messages -eq 0 || { h_log "warning: $run: bulkqd still holds $(status_field messages) message(s)"; R[$run.ok]=CHECK; }
  stop_bulkqd
  stop_test_sink "$run"
}

# run_ceiling: smtp-source → smtp-sink, and → one bulkq_test_sink listener, loopback.
run_ceiling() {
  local t0 t1 target
  for target in smtp-sink test-sink; do
    local addr=127.0.0.1:$SINK_PORT
    if [ "$target" = test-sink ]; then
      start_test_sink ceiling "127.0.1.1"
      addr=127.0.1.1:$TSINK_SMTP_PORT
    fi
    t0=$(date +%s.%N)
    timeout 300 "$POSTFIX_SBIN/smtp-source" -d -s 20 -m "$ceiling_messages" -l 1024 \
      -M client.bulkq.test -f a@ceiling.test -t b@ceiling.test "$addr" \
      >"$SCRATCH/ceiling-$target.log" 2>&1 || h_log "warning: smtp-source → $target exited $?"
    t1=$(date +%s.%N)
    R[ceiling.$target]=$(awk -v n="$ceiling_messages" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    [ "$target" = test-sink ] && stop_test_sink ceiling
    h_log "ceiling: smtp-source -d -s 20 → $target: ${R[ceiling.$target]} msg/s"
  done
}

h_log "delivery benchmark: $messages messages per run, $domains domains (Zipf), $connections injecting sessions; runs: $runs; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $runs; do
  case "$run" in
    ceiling) run_ceiling ;;
    pf10) run_e2e pf10 postfix 10 ;;
    bq10) run_e2e bq10 bulkq 10 ;;
    drain10) run_drain drain10 10 ;;
    pf1) run_e2e pf1 postfix 1 ;;
    bq1) run_e2e bq1 bulkq 1 ;;
    *) h_fail "unknown run '$run' (known: ceiling pf10 bq10 drain10 pf1 bq1)" ;;
  esac
done

# ---------------------------------------------------------------------------------------------
# The report

v() { printf '%s' "${R[$1]:--}"; }
ratio() { awk -v a="${R[$1]:-}" -v b="${R[$2]:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
line() {  # line RUN LABEL
  [ -n "${R[$1.ok]:-}" ] || return 0
  printf '  %-34s %7s msg/s %8s tx/s  %6s s  %7s tx %6s conns %6s tx/conn  inj %6s msg/s  lag %6s s  [%s]\n' \
    "$2" "$(v "$1.msg_rate")" "$(v "$1.tx_rate")" "$(v "$1.elapsed")" "$(v "$1.transactions")" \
    "$(v "$1.connections")" "$(v "$1.per_conn")" "$(v "$1.inject_rate")" "$(v "$1.lag")" "$(v "$1.ok")"
}
echo
echo "delivery benchmark: $messages x 1 KB messages per run over $domains domains (Zipf 1), $connections injecting sessions (pipelining)"
echo "  machine: $(nproc) CPUs, load now $(cut -d' ' -f1-3 /proc/loadavg); total run time $((SECONDS - bench_start)) s"
echo "  Postfix: defaults (default_destination_concurrency_limit 20, default_process_limit 100, connection cache on demand);"
echo "           campaign domains routed by transport_maps to the sinks' addresses (no DNS lookups: favours Postfix)"
echo "  bulkq:   direct mode, MX via dnsmasq (cold DNS cache each run), delivery limits"
echo "           (max_connections 32, max_connections_per_domain 8, connection_idle_time 10, max_idle_connections 256, max_messages_per_connection ${per_connection:-1000}$([ -z "$per_connection" ] && [ -z "${BULKQ_BENCH_DELIVERY_EXTRA:-}" ] && echo ': the defaults')${BULKQ_BENCH_DELIVERY_EXTRA:+; also: ${BULKQ_BENCH_DELIVERY_EXTRA//$'\n'/, }})"
if [ -n "${R[ceiling.smtp-sink]:-}" ]; then
  echo "  ceiling: smtp-source -d -s 20 → smtp-sink ${R[ceiling.smtp-sink]} msg/s; → bulkq_test_sink ${R[ceiling.test-sink]} msg/s ($ceiling_messages x 1 KB, loopback)"
fi
echo "  columns: end-to-end rate, domain transactions/s, seconds, transactions, SMTP connections, transactions per connection,"
echo "           injection rate, last sink acceptance after the last injection"
line pf10 "1. Postfix, 10 rcpts, end to end"
line bq10 "1. bulkq,   10 rcpts, end to end"
line drain10 "2. bulkq,   10 rcpts, drain of held"
line pf1 "4. Postfix, 1 rcpt, end to end"
line bq1 "4. bulkq,   1 rcpt, end to end"
[ -n "${R[drain10.held]:-}" ] && echo "  drain: before the restart ${R[drain10.held]}; time counted from bulkqd's start (journal recovery, cold DNS) to the last acceptance"
for run in bq10 drain10 bq1; do
  [ -n "${R[$run.bulkq]:-}" ] && echo "  $run bulkqd status (sent deferred bounced connections): ${R[$run.bulkq]}"
done
echo "  a (message, domain) pair normally takes one transaction: 'tx' above the plan means some were split in two"
for run in pf10 bq10 drain10 pf1 bq1; do
  [ -n "${R[$run.ok]:-}" ] && echo "  $run: ${R[$run.transactions]} transactions for ${R[$run.expected_tx]} (message, domain) pairs, ${R[$run.recipients]} recipients"
done
echo
echo "  targets:"
if [ -n "${R[pf10.ok]:-}" ] && [ -n "${R[bq10.ok]:-}" ]; then
  echo "  1. end to end x10: bulkq ${R[bq10.msg_rate]} vs Postfix ${R[pf10.msg_rate]} msg/s = $(ratio bq10.msg_rate pf10.msg_rate)x (target >= 2x);"
  echo "     bulkq vs its own injection: delivered ${R[bq10.msg_rate]} msg/s, injected ${R[bq10.inject_rate]} msg/s, last acceptance ${R[bq10.lag]} s after the last injection"
  echo "     transactions/s: bulkq ${R[bq10.tx_rate]}, Postfix ${R[pf10.tx_rate]} ($(ratio bq10.tx_rate pf10.tx_rate)x)"
fi
[ -n "${R[drain10.ok]:-}" ] &&
  echo "  2. drain: ${R[drain10.tx_rate]} transactions/s (${R[drain10.msg_rate]} msg/s) (target >= 5000/s; ceiling smtp-source → smtp-sink $(v ceiling.smtp-sink) msg/s = $(ratio drain10.tx_rate ceiling.smtp-sink) of it)"
if [ -n "${R[pf10.ok]:-}" ] && [ -n "${R[bq10.ok]:-}" ]; then
  echo "  3. connections x10: bulkq ${R[bq10.connections]} vs Postfix ${R[pf10.connections]} = $(ratio bq10.connections pf10.connections) (target <= 0.10);"
  echo "     messages (transactions) per connection: bulkq ${R[bq10.per_conn]}, Postfix ${R[pf10.per_conn]} ($(ratio bq10.per_conn pf10.per_conn)x)"
  echo "     floor at max_messages_per_connection ${per_connection:-1000}: $(awk -v t="${R[bq10.transactions]}" -v m="${per_connection:-1000}" 'BEGIN { printf "%d", (t + m - 1) / m }') connections = $(awk -v t="${R[bq10.transactions]}" -v m="${per_connection:-1000}" -v p="${R[pf10.connections]}" 'BEGIN { printf "%.2f", int((t + m - 1) / m) / p }') of Postfix's"
  [ -n "${R[drain10.ok]:-}" ] && echo "     drain x10: bulkq ${R[drain10.connections]} connections, ${R[drain10.per_conn]} per connection ($(ratio drain10.connections pf10.connections) of Postfix's end-to-end count)"
fi
if [ -n "${R[pf1.ok]:-}" ] && [ -n "${R[bq1.ok]:-}" ]; then
  echo "     connections x1: bulkq ${R[bq1.connections]} vs Postfix ${R[pf1.connections]} = $(ratio bq1.connections pf1.connections)"
  echo "  4. end to end x1: bulkq ${R[bq1.msg_rate]} vs Postfix ${R[pf1.msg_rate]} msg/s = $(ratio bq1.msg_rate pf1.msg_rate)x (target >= 1x)"
fi
