#!/usr/bin/env bash
# Shaping benchmark: how bulkq's adaptive shaper finds a destination's rate limit, and what the
# limited destination costs the others.
#
# One Postfix instance with bulkqd as its milter (integration/lib/harness.sh: own config and
# queue, loopback only, free ports), one DNS server (dnsmasq) and one bulkq_test_sink with one
# listener per destination: dJ.campaign.test (J = 0..199) has MX mxJ.campaign.test at
# 127.0.1.(J+1), all on one free port. d0.campaign.test is the limited destination: its listener
# has rate=R (default 50 msg/s; the sink answers MAIL FROM beyond R per second with "451 4.7.1
# Too many messages, slow down"); d1..d199 are unlimited. Messages are 1 KB, one recipient each
# (so messages = transactions = recipients); the limited domain gets R x BULKQ_BENCH_SECONDS
# (default 60) of them, the 199 others the rest of BULKQ_BENCH_MESSAGES (default 20 000), drawn
# uniformly; the order is shuffled. bulkq runs with its shaping defaults (adaptive, no static
# max_rate: it has to find R) and retry_min = 1, retry_max = 2 (a refused recipient comes back
# in 1-2 s, not 300 s).
#
# Runs (each on a freshly started sink, so its counters and log are that run's alone):
#   limited    the whole campaign injected and held first (delivery off); bulkqd restarted with
#              delivery on: every domain's backlog is there from the first second.
#   reference  the same campaign without the limited domain's messages, the same way: what the
#              199 others do when nothing is limited.
# Printed, from the sink's log ("t" stamps) and stats:
#   - time to settle: the first second, counted from the limited domain's first delivery, from
#     which its per-second acceptance stays within ±20% of R for 10 s in a row;
#   - the steady rate as a fraction of R: its deliveries from the settling second to its 95%
#     mark, per second (the last 5% may be retries trickling in after their backoff);
#   - 4xx per 1000 messages to the limited domain: the sink's rate_rejected / accepted x 1000, in
#     all and in the settled part;
#   - the 199 others: msg/s while the limited domain was still sending, when they finished, and
#     the same in the reference run;
#   - the limited domain's shaping state (bulkqctl domain d0.campaign.test --json) every ~5 s.
#
#   integration/bench/shaping.sh                              R = 50, 20 000 messages
#   BULKQ_BENCH_RATE=20 BULKQ_BENCH_SECONDS=30 integration/bench/shaping.sh
#   BULKQ_BENCH_MESSAGES=5000 ...            fewer messages to the others
#   BULKQ_BENCH_RUNS=limited ...             no reference run
#   BULKQ_BENCH_SHAPING_TABLE=$'[shaping]\nadaptive = false' ...   a [shaping] table to use
#   BULKQ_BENCH_DELIVERY_EXTRA=$'max_connections_per_domain = 2' ...   more [delivery] keys
# Bounded: the whole benchmark stops waiting after BULKQ_BENCH_DEADLINE seconds (default 300);
# what did not finish by then is flagged CHECK. Needs root; binaries from BULKQ_BUILD_DIR
# (scripts/bench shaping uses build/bench-delivery). Prints figures; asserts nothing about speed.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"

rate=${BULKQ_BENCH_RATE:-50}
limited_seconds=${BULKQ_BENCH_SECONDS:-60}
messages=${BULKQ_BENCH_MESSAGES:-20000}
limited_messages=$(awk -v r="$rate" -v s="$limited_seconds" 'BEGIN { printf "%d", r * s + 0.5 }')
other_messages=$((messages - limited_messages))
domains=200
connections=${BULKQ_BENCH_CONNECTIONS:-10}
runs=${BULKQ_BENCH_RUNS:-limited reference}
deadline=$((SECONDS + ${BULKQ_BENCH_DEADLINE:-300}))
[ "$other_messages" -gt 0 ] ||
  { echo "shaping bench: BULKQ_BENCH_MESSAGES=$messages leaves nothing for the other domains" >&2; exit 2; }

# shellcheck disable=SC2034  # H_TIMEOUT, TSINK_STORE: read by the harness
H_TIMEOUT=120
# shellcheck disable=SC2034
TSINK_STORE=0
h_init shaping-bench
h_need "$BULKQD" "$BULKQCTL" "$TEST_SINK"
bench_start=$SECONDS

# ---------------------------------------------------------------------------------------------
# The injector: a pipelining SMTP client (MAIL, RCPT, DATA in one write; then the content).
# --limited messages to d0, --others to d1..d(D-1) drawn uniformly, shuffled. Writes a JSON
# summary: messages, limited, others, start/end (epoch seconds), errors.
cat >"$SCRATCH/inject.py" <<'PY'
import argparse, email.utils, json, random, socket, sys, threading, time
p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--limited", type=int, required=True)
p.add_argument("--others", type=int, required=True)
p.add_argument("--domains", type=int, default=200)
p.add_argument("--connections", type=int, default=10)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--tag", default="b")
p.add_argument("--summary", required=True)
a = p.parse_args()
rng = random.Random(a.seed)
doms = [0] * a.limited + [rng.randrange(1, a.domains) for _ in range(a.others)]
rng.shuffle(doms)
sender = "news@campaign-sender.test"
body = "\r\n".join("line %02d of the campaign body, padding to about one kilobyte......" % i
                   for i in range(15))
date = email.utils.formatdate()
plan = []
for m, d in enumerate(doms):
    env = ("MAIL FROM:<%s>\r\nRCPT TO:<u%s%d@d%d.campaign.test>\r\nDATA\r\n"
           % (sender, a.tag, m, d)).encode()
    msg = ("From: Campaign <%s>\r\nTo: subscribers@campaign.test\r\nSubject: campaign %s %d\r\n"
           "List-Unsubscribe: <mailto:unsub@campaign.test>\r\nMessage-ID: <bench-%s-%d@campaign-sender.test>\r\n"
           "Date: %s\r\n\r\n%s\r\n.\r\n" % (sender, a.tag, m, a.tag, m, date, body)).encode()
    plan.append((env, msg))
errors, lock = [], threading.Lock()
def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3]), line
def worker(i):
    try:
        s = socket.create_connection(("127.0.0.1", a.port), timeout=120)
        f = s.makefile("rb")
        if reply(f)[0] != 220: raise OSError("greeting")
        s.sendall(b"EHLO inject.bulkq.test\r\n")
        if reply(f)[0] != 250: raise OSError("EHLO")
        for env, msg in plan[i::a.connections]:
            s.sendall(env)
            for want in (250, 250, 354):
                code, text = reply(f)
                if code != want: raise OSError("envelope: %r" % text)
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
json.dump({"messages": len(doms), "limited": a.limited, "others": a.others, "start": start,
           "end": end, "errors": errors}, open(a.summary, "w"))
sys.exit(1 if errors else 0)
PY

# ---------------------------------------------------------------------------------------------
# DNS, the sink's listeners, Postfix, bulkqd's configurations

listeners=("127.0.1.1,rate=$rate")
for ((j = 0; j < domains; j++)); do
  dns_host "mx$j.campaign.test" "127.0.1.$((j + 1))"
  dns_mx "d$j.campaign.test" "mx$j.campaign.test" 10
  [ "$j" -gt 0 ] && listeners+=("127.0.1.$((j + 1))")
done
start_dns
start_sink nodump
# A first sink picks TSINK_SMTP_PORT (kept for the later ones), needed by bulkqd's configuration.
start_test_sink warmup "${listeners[@]}" >/dev/null
stop_test_sink warmup
limited_listener=127.0.1.1:$TSINK_SMTP_PORT
start_postfix

shaping_extra=()
[ -n "${BULKQ_BENCH_SHAPING_TABLE:-}" ] && shaping_extra+=("$BULKQ_BENCH_SHAPING_TABLE")
write_bulkq_toml "$SCRATCH/bulkq-off.toml" $'[delivery]\nenabled = false'
write_bulkq_toml "$SCRATCH/bulkq-on.toml" \
  "$(printf '%s\n' '[delivery]' "port = $TSINK_SMTP_PORT" 'helo_name = "bulkq.test"' \
    'retry_min = 1' 'retry_max = 2' "${BULKQ_BENCH_DELIVERY_EXTRA:-}")" \
  "$(printf '[dns]\nservers = ["%s"]\ncache_directory = "%s"' "$DNS_SERVER" "$SCRATCH/dnscache")" \
  "${shaping_extra[@]}"

remaining() { local r=$((deadline - SECONDS)); [ "$r" -gt 0 ] && echo "$r" || echo 1; }
summary() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# sink_counter NAME FIELD: the sink-wide counter, read without python (polled often).
sink_counter() {
  local head
  head=$(sed -nE 's/^(\{[^{]*)"per_listener".*/\1/p' "${TSINK_STATS[$1]}" 2>/dev/null)
  head=${head#*\""$2"\":}
  head=${head%%[!0-9]*}
  printf '%s' "$head"
}
bulkqd_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' \
    "/proc/$BULKQD_PID/stat" 2>/dev/null || echo "?"
}

declare -A R=()  # R[run.field]: the figures

# run_drain RUN LIMITED OTHERS: inject and hold, then deliver from a fresh start; the sink's log
# and the shaping samples stay in $SCRATCH for the report.
run_drain() {
  local run=$1 limited=$2 others=$3
  local total=$((limited + others))
  R[$run.ok]=ok
  h_log "$run: $limited messages to d0 (rate=$rate), $others to d1..d$((domains - 1)); injected and held first"
  start_test_sink "$run" "${listeners[@]}" >/dev/null
  rm -rf "$JOURNAL_DIR" "$SCRATCH/dnscache"
  start_bulkqd "$SCRATCH/bulkq-off.toml"
  local inj=$SCRATCH/$run.inject.json
  timeout "$(remaining)" python3 "$SCRATCH/inject.py" --port "$SMTP_PORT" --limited "$limited" \
    --others "$others" --domains "$domains" --connections "$connections" --seed 7 --tag "$run" \
    --summary "$inj" >"$SCRATCH/$run.inject.log" 2>&1 || {
    h_log "warning: $run: the injector failed: $(tail -n 3 "$SCRATCH/$run.inject.log") $(cut -c1-300 "$inj" 2>/dev/null)"
    R[$run.ok]=CHECK
  }
  h_try_until "$(remaining)" h_status_is messages -ge "$total" || R[$run.ok]=CHECK
  h_try_until "$(remaining)" h_status_is pending_commit -eq 0 || R[$run.ok]=CHECK
  h_try_until "$(remaining)" h_hold_complete_is "$total" || R[$run.ok]=CHECK
  if [ -f "$inj" ]; then
    R[$run.inject]=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print("%.0f" % (s["messages"] / (s["end"] - s["start"])))' "$inj")
  fi
  h_log "$run: $(hold_complete_count) held (injected at ${R[$run.inject]:-?} msg/s); delivery on"
  stop_bulkqd
  rm -rf "$SCRATCH/dnscache"
  R[$run.t0]=$(date +%s.%N)
  start_bulkqd "$SCRATCH/bulkq-on.toml"
  # Until the sink has every recipient (or the deadline); the limited domain's shaping state
  # every ~5 s meanwhile.
  : >"$SCRATCH/$run.shaping.txt"
  local next_sample=0 got
  while :; do
    got=$(sink_counter "$run" recipients)
    [ -n "$got" ] && [ "$got" -ge "$total" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      h_log "warning: $run: the sink has ${got:-?} of $total recipients at the deadline"
      R[$run.ok]=CHECK
      break
    fi
    if [ "$limited" -gt 0 ] && [ "$SECONDS" -ge "$next_sample" ]; then
      next_sample=$((SECONDS + 5))
      {
        printf '%s ' "$(date +%s.%N)"
        "$BULKQCTL" -s "$ADMIN_SOCKET" domain d0.campaign.test --json 2>/dev/null || echo '{}'
      } >>"$SCRATCH/$run.shaping.txt"
    fi
    sleep 0.5
  done
  R[$run.status]="$(status_field delivery.sent delivery.deferred delivery.bounced delivery.connections | tr '\n' ' '); bulkqd CPU $(bulkqd_cpu) s"
  stop_bulkqd
  stop_test_sink "$run"  # flushes the log, writes the final stats
}

done_runs=
for run in $runs; do
  if [ $((deadline - SECONDS)) -lt 30 ]; then
    h_log "warning: $run skipped: less than 30 s left before the deadline"
    continue
  fi
  case "$run" in
    limited) run_drain limited "$limited_messages" "$other_messages" ;;
    reference) run_drain reference 0 "$other_messages" ;;
    *) h_fail "unknown run '$run' (known: limited reference)" ;;
  esac
  done_runs="$done_runs $run"
done

# ---------------------------------------------------------------------------------------------
# The report: figures from the sinks' logs.
echo
echo "shaping benchmark: d0.campaign.test limited to R = $rate msg/s by the sink (burst $(awk -v r="$rate" 'BEGIN { printf "%g", (r / 5 > 1 ? r / 5 : 1) }')), $limited_messages messages for it (≈ ${limited_seconds} s at R);"
echo "  $other_messages messages over the 199 other domains (uniform, unlimited); 1 KB, 1 recipient each; held first, then delivered"
echo "  machine: $(nproc) CPUs, load now $(cut -d' ' -f1-3 /proc/loadavg); total run time $((SECONDS - bench_start)) s"
echo "  bulkq: shaping defaults${BULKQ_BENCH_SHAPING_TABLE:+ with ${BULKQ_BENCH_SHAPING_TABLE//$'\n'/ }}; retry_min 1, retry_max 2${BULKQ_BENCH_DELIVERY_EXTRA:+; also ${BULKQ_BENCH_DELIVERY_EXTRA//$'\n'/, }}"
for run in $runs; do
  [ -n "${R[$run.ok]:-}" ] || { echo "  $run: skipped (deadline)"; continue; }
  echo "  $run: [${R[$run.ok]}] injected at ${R[$run.inject]:-?} msg/s; bulkqd status (sent deferred bounced connections): ${R[$run.status]:-?}"
done
python3 - "$rate" "$limited_listener" "$SCRATCH" "$done_runs" "${R[limited.t0]:-}" "${R[reference.t0]:-}" <<'PY'
import json, os, sys
rate, limited, scratch, runs = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split()
t0s = {"limited": sys.argv[5], "reference": sys.argv[6]}

def load(run):
    lim, oth, rej = [], [], []
    path = "%s/sinks/%s/log.jsonl" % (scratch, run)
    if not os.path.exists(path):
        return lim, oth, rej
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        on_limited = r.get("listener") == limited
        if r.get("event") == "rate_rejected" and on_limited:
            rej.append(r["t"])
        elif "event" not in r:
            (lim if on_limited else oth).append(r["t"])
    return sorted(lim), sorted(oth), sorted(rej)

def others_figures(run, oth, until):
    t0 = float(t0s[run])
    if not oth:
        return "no deliveries"
    n = sum(1 for x in oth if x <= until)
    span = min(until, oth[-1]) - t0
    return "%d delivered, %.0f msg/s over the first %.1f s, first at +%.1f s, finished at +%.1f s" % (
        n, n / span if span > 0 else 0, span, oth[0] - t0, oth[-1] - t0)

figures = {}
if "limited" in runs:
    lim, oth, rej = load("limited")
    t0 = float(t0s["limited"])
    print()
    if not lim:
        print("  limited domain: nothing delivered")
    else:
        first, n = lim[0], len(lim)
        bins = [0] * (int(lim[-1] - first) + 1)
        for x in lim:
            bins[int(x - first)] += 1
        settle = None
        for k in range(len(bins) - 9):
            if all(0.8 * rate <= c <= 1.2 * rate for c in bins[k:k + 10]):
                settle = k
                break
        i95 = max(0, (n * 95) // 100 - 1)
        print("  limited domain: %d delivered, first at +%.1f s, last at +%.1f s (from bulkqd's start)"
              % (n, first - t0, lim[-1] - t0))
        print("    per second from its first delivery: " + " ".join(str(c) for c in bins))
        if settle is None:
            print("    time to settle: never (no 10 s in a row within ±20%% of R = %g)" % rate)
        else:
            start = first + settle
            steady = [x for x in lim if start <= x <= lim[i95]]
            span = lim[i95] - start
            steady_rate = len(steady) / span if span > 0 else 0
            rej_settled = sum(1 for x in rej if start <= x <= lim[i95])
            print("    time to settle: %d s after its first delivery (then 10 s in a row within ±20%% of R)"
                  % settle)
            print("    steady rate: %.1f msg/s = %.2f R (from the settling second to the 95%% mark, %.1f s)"
                  % (steady_rate, steady_rate / rate, span))
            print("    4xx in the settled part: %d = %.0f per 1000 messages"
                  % (rej_settled, 1000.0 * rej_settled / max(1, len(steady))))
        print("    4xx provoked: %d = %.0f per 1000 messages to it (sink rate_rejected / accepted)"
              % (len(rej), 1000.0 * len(rej) / n))
        print("  other 199 domains while it was still sending: " + others_figures("limited", oth, lim[-1]))
    samples = []
    path = "%s/limited.shaping.txt" % scratch
    if os.path.exists(path):
        for line in open(path):
            stamp, _, text = line.partition(" ")
            try:
                reply = json.loads(text)
            except ValueError:
                continue
            s = reply.get("shaping")
            if s is None and isinstance(reply.get("domain"), dict):
                s = reply["domain"].get("shaping")
            if isinstance(s, dict):
                r = s.get("rate")
                samples.append("+%.0fs %s rate=%s conc=%s" % (
                    float(stamp) - t0, s.get("state"), "%.1f" % r if isinstance(r, (int, float)) else r,
                    s.get("concurrency")))
    print("  shaping of d0.campaign.test (bulkqctl domain, every ~5 s): "
          + ("; ".join(samples) if samples else "not shown (no \"shaping\" object in the reply)"))
if "reference" in runs:
    _, oth, _ = load("reference")
    print("  reference, without the limited domain: other 199 domains " +
          others_figures("reference", oth, float("inf")))
PY
echo
echo "  (figures only: nothing here is asserted)"
