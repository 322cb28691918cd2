#!/usr/bin/env bash
# Acceptance benchmark: what diverting every message through bulkqd costs Postfix's intake.
#
# One Postfix instance (integration/lib/harness.sh: own config and queue, loopback only, free
# ports), smtp-source sending BULKQ_BENCH_MESSAGES messages of BULKQ_BENCH_SIZE bytes over
# BULKQ_BENCH_SESSIONS parallel sessions, one message per connection, from a sender domain that
# bulkq treats as bulk (bulk.sender_domains), in two modes:
#   no milter   smtpd_milters empty; Postfix delivers everything to an smtp-sink (counting only)
#   bulkqd      every message diverted: quarantined in hold/, journaled, queued by bulkqd
# Rate = messages / (smtp-source start → exit), wall clock. The modes alternate, BULKQ_BENCH_ROUNDS
# times each, with the queues emptied between runs (hold/ emptied with postsuper, bulkqd
# restarted with a fresh journal); medians and the ratio bulkqd / no milter are printed, plus
# bulkqd's CPU per message. Prints figures; asserts nothing about speed (a run whose messages did
# not all arrive where expected is flagged).
#
#   integration/bench/acceptance.sh                       20 000 messages x 3 rounds (~15 min)
#   BULKQ_BENCH_MESSAGES=2000 BULKQ_BENCH_ROUNDS=1 integration/bench/acceptance.sh   (quick)
# Needs root; binaries from BULKQ_BUILD_DIR (scripts/bench acceptance uses build/bench).
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

messages=${BULKQ_BENCH_MESSAGES:-20000}
sessions=${BULKQ_BENCH_SESSIONS:-20}
size=${BULKQ_BENCH_SIZE:-1024}
rounds=${BULKQ_BENCH_ROUNDS:-3}
# Seconds one smtp-source run, or the drain after it, may take.
run_timeout=${BULKQ_BENCH_TIMEOUT:-1800}

H_TIMEOUT=120
h_init acceptance-bench
h_need "$BULKQD" "$BULKQCTL"
BULKQ_LOG_LEVEL=warning  # one info line per held message would cost bulkqd time and disk
start_sink nodump
start_postfix nomilter
write_bulkq_toml

# bulkqd's CPU time so far, in clock ticks (utime + stime from /proc/PID/stat).
bulkqd_ticks() {
  [ -n "$BULKQD_PID" ] || { echo 0; return; }
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$BULKQD_PID/stat" 2>/dev/null || echo 0
}
ticks_per_second=$(getconf CLK_TCK)

fresh_queue() {  # empties hold/ (as root) and waits for the other queues to drain
  "$POSTFIX_SBIN/postsuper" -c "$PF_CONF" -d ALL hold >/dev/null 2>&1
  h_try_until "$run_timeout" h_queue_empty ||
    h_log "warning: Postfix's queue did not drain ($(queue_busy_count) file(s) left)"
}

# run_once MODE: one smtp-source run; sets RUN_RATE (msg/s), RUN_CPU (bulkqd ms/msg), RUN_OK
# (ok, or CHECK when messages did not all arrive where expected) and RUN_WHERE. Globals, not
# output: bulkqd must be started and stopped by this shell, whose EXIT trap knows its pid.
run_once() {
  local mode=$1
  fresh_queue
  if [ "$mode" = bulkqd ]; then
    rm -rf "$JOURNAL_DIR"
    reload_postfix milters
    start_bulkqd
  else
    reload_postfix nomilter
  fi
  sleep 2  # the reload replaces smtpd processes; let the new configuration settle
  local sent_before ticks_before start end
  sent_before=$(maillog_count ' status=sent ')
  ticks_before=$(bulkqd_ticks)
  start=$(date +%s.%N)
  timeout "$run_timeout" "$POSTFIX_SBIN/smtp-source" -s "$sessions" -m "$messages" -l "$size" \
    -M client.bulkq.test -f bench@bulk-sender.test -t reader@bench.bulkq.test \
    "127.0.0.1:$SMTP_PORT" >"$SCRATCH/log/smtp-source.log" 2>&1 ||
    h_log "warning: smtp-source exited with status $? ($(tail -n 1 "$SCRATCH/log/smtp-source.log"))"
  end=$(date +%s.%N)
  local ticks_after ok=ok where
  ticks_after=$(bulkqd_ticks)
  if [ "$mode" = bulkqd ]; then
    # Every message must have been diverted: held, committed, queued by bulkqd.
    h_try_until 60 h_status_is messages -ge "$messages" || ok=CHECK
    where="held $(hold_complete_count), bulkqd messages $(status_field messages), failed open $(status_field fail_open.total)"
    [ "$(hold_complete_count)" -eq "$messages" ] || ok=CHECK
    stop_bulkqd
  else
    h_try_until "$run_timeout" h_maillog_count_ge ' status=sent ' $((sent_before + messages)) || ok=CHECK
    where="delivered $(($(maillog_count ' status=sent ') - sent_before)), held $(hold_count)"
  fi
  RUN_RATE=$(awk -v n="$messages" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')
  RUN_CPU=$(awk -v n="$messages" -v t0="$ticks_before" -v t1="$ticks_after" -v hz="$ticks_per_second" \
    'BEGIN { printf "%.3f", (t1 - t0) * 1000 / hz / n }')
  RUN_OK=$ok
  RUN_WHERE=$where
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

h_log "acceptance: $messages messages of $size bytes, $sessions sessions, $rounds round(s) per mode; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
plain=()
diverted=()
cpu=()
for round in $(seq 1 "$rounds"); do
  for mode in nomilter bulkqd; do
    run_once "$mode"
    rate=$RUN_RATE cpu_ms=$RUN_CPU ok=$RUN_OK where=$RUN_WHERE
    if [ "$mode" = nomilter ]; then plain+=("$rate"); else diverted+=("$rate"); cpu+=("$cpu_ms"); fi
    label=$([ "$mode" = nomilter ] && echo "no milter" || echo "bulkqd   ")
    extra=$([ "$mode" = bulkqd ] && echo ", bulkqd CPU ${cpu_ms} ms/msg")
    printf 'round %s  %s  %8s msg/s%s  [%s: %s]\n' "$round" "$label" "$rate" "$extra" "$ok" "$where"
  done
done

m_plain=$(median "${plain[@]}")
m_div=$(median "${diverted[@]}")
m_cpu=$(median "${cpu[@]}")
echo
echo "acceptance benchmark: $messages x ${size}-byte messages, $sessions sessions, $rounds round(s), modes interleaved"
printf '  %-28s %s\n' "no milter (msg/s):" "${plain[*]}"
printf '  %-28s %s\n' "bulkqd diverting (msg/s):" "${diverted[*]}"
printf '  %-28s %s msg/s\n' "median, no milter:" "$m_plain"
printf '  %-28s %s msg/s\n' "median, bulkqd diverting:" "$m_div"
printf '  %-28s %s\n' "ratio bulkqd / no milter:" "$(awk -v a="$m_div" -v b="$m_plain" 'BEGIN { printf "%.2f", a / b }')"
printf '  %-28s %s ms\n' "bulkqd CPU per message:" "$m_cpu"
echo "  (wall clock from smtp-source start to exit; $(nproc) CPUs, load now $(cut -d' ' -f1-3 /proc/loadavg))"
