# shellcheck shell=bash disable=SC2034  # variables here are read by the scenarios that source it
# integration/lib/harness.sh — sourced by every integration scenario (integration/scenarios/*.sh)
# and by the acceptance benchmark. Bash only; needs root (a Postfix instance of its own).
#
# What it gives a scenario:
#   h_init NAME            scratch dir (mode 0755), EXIT trap that stops everything started, in
#                          reverse order, even on failure; keeps the scratch dir and prints log
#                          tails when the scenario fails.
#   h_free_port VAR        sets VAR to a free TCP port on 127.0.0.1 (bounded, never a fixed port).
#   start_sink / stop_sink          smtp-sink on 127.0.0.1:SINK_PORT, one file per message in
#                                   $SCRATCH/sink (stopped by its pid).
#   start_postfix / stop_postfix / reload_postfix
#                                   a Postfix instance with its own config, queue and data dirs,
#                                   its SMTP listener on 127.0.0.1:SMTP_PORT, relayhost = the sink,
#                                   smtpd_milters = unix:$SCRATCH/run/milter.sock.
#   write_bulkq_toml [FILE]         bulkqd's configuration for this instance.
#   start_bulkqd [CONFIG] / stop_bulkqd / kill_bulkqd
#                                   bulkqd -f in the background, stderr to $SCRATCH/bulkqd.log,
#                                   tracked by its pid.
#   send_mail ARGS...               swaks against 127.0.0.1:SMTP_PORT (output in $SCRATCH/swaks/).
#   status_field PATH               a member of `bulkqctl status --json` (dotted path).
#   wait_* helpers                  bounded waits (files, hold count, log lines, status values).
#   assert_* helpers               print what was expected and what was found, then fail.
#
# Network: loopback only (127.0.0.1); every port is picked free at run time.
# Every loop is bounded; every process is stopped by its pid or its own control command.

# ---------------------------------------------------------------------------------------------
# Locations and tools

H_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${BULKQ_BUILD_DIR:=build/ci}"
case "$BULKQ_BUILD_DIR" in
  /*) H_BUILD=$BULKQ_BUILD_DIR ;;
  *) H_BUILD=$H_ROOT/$BULKQ_BUILD_DIR ;;
esac
BULKQD=${BULKQD:-$H_BUILD/shim/milter/bulkqd}
BULKQCTL=${BULKQCTL:-$H_BUILD/shim/ctl/bulkqctl}
JOURNAL_EDIT=${JOURNAL_EDIT:-$H_BUILD/integration/bulkq_journal_edit}
POSTFIX_SBIN=${POSTFIX_SBIN:-/usr/sbin}
H_POSTFIX_USER=${H_POSTFIX_USER:-postfix}
# Seconds the bounded waits allow by default (CI machines are slow and shared).
H_TIMEOUT=${BULKQ_INTEGRATION_TIMEOUT:-30}

# ---------------------------------------------------------------------------------------------
# Messages and failure

H_NAME=harness
h_log() { printf '[%s %s] %s\n' "$H_NAME" "$(date +%H:%M:%S)" "$*"; }

# h_fail MESSAGE...: the scenario fails here (the EXIT trap cleans up and prints the logs).
h_fail() {
  printf '[%s %s] FAIL: %s\n' "$H_NAME" "$(date +%H:%M:%S)" "$*" >&2
  H_FAILED=1
  exit 1
}

h_need() {  # h_need PROGRAM...: fail early, naming what is missing
  local p
  for p in "$@"; do
    if [ ! -x "$p" ] && ! command -v "$p" >/dev/null 2>&1; then
      h_fail "missing program: $p (scripts/install-deps installs it; binaries come from BULKQ_BUILD_DIR=$H_BUILD)"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Scratch dir and cleanup

SCRATCH=
H_FAILED=0
H_CLEANUP=()    # commands run in reverse order at exit
H_PORTS_TAKEN=" "

h_on_exit() { H_CLEANUP+=("$*"); }

h_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  [ "$status" -ne 0 ] && H_FAILED=1
  local i
  for ((i = ${#H_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${H_CLEANUP[$i]}" >/dev/null 2>&1
  done
  if [ -n "$SCRATCH" ] && [ -d "$SCRATCH" ]; then
    if [ "$H_FAILED" -ne 0 ] || [ -n "${BULKQ_KEEP_SCRATCH:-}" ]; then
      if [ "$H_FAILED" -ne 0 ]; then h_print_logs; fi
      h_log "scratch directory kept: $SCRATCH"
    else
      rm -rf "$SCRATCH"
    fi
  fi
  exit "$status"
}

h_print_logs() {
  local f
  for f in "$SCRATCH/log/maillog" "$SCRATCH"/bulkqd*.log "$SCRATCH/log/sink.log"; do
    [ -s "$f" ] || continue
    printf '\n----- last 40 lines of %s\n' "$f" >&2
    tail -n 40 "$f" | cut -c1-400 >&2
  done
  printf -- '-----\n' >&2
}

# h_init NAME: scratch dir, traps, prerequisites.
h_init() {
  H_NAME=$1
  [ "$(id -u)" -eq 0 ] || { echo "$H_NAME: the integration tests need root (own Postfix instance)" >&2; exit 1; }
  local base=${BULKQ_INTEGRATION_TMP:-${TMPDIR:-/tmp}}
  SCRATCH=$(mktemp -d "$base/bulkq-it.XXXXXX") || { echo "cannot make a scratch dir in $base" >&2; exit 1; }
  # Postfix's processes (user postfix) must reach the milter socket below it.
  chmod 0755 "$SCRATCH"
  mkdir -p "$SCRATCH/run" "$SCRATCH/log" "$SCRATCH/swaks" "$SCRATCH/sink" "$SCRATCH/mail"
  # bulkqd (root, then daemon.user) creates its sockets here; smtp-sink (-u postfix) writes here.
  chown "$H_POSTFIX_USER:" "$SCRATCH/run" "$SCRATCH/sink"
  chmod 0755 "$SCRATCH/run"
  trap h_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  h_need python3 swaks "$POSTFIX_SBIN/postfix" "$POSTFIX_SBIN/postconf" "$POSTFIX_SBIN/postcat" \
    "$POSTFIX_SBIN/postsuper" "$POSTFIX_SBIN/smtp-sink" "$POSTFIX_SBIN/smtp-source"
  h_log "scratch directory $SCRATCH"
}

# ---------------------------------------------------------------------------------------------
# Ports and waiting

# h_free_port VAR: sets VAR to a TCP port on 127.0.0.1 that nothing listens on and that this
# scenario has not picked before. The kernel picks it (bind to port 0), so concurrent runs do not
# collide. (A variable, not output: a $(...) subshell could not remember the ports taken.)
h_free_port() {
  local attempt port
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()') || continue
    case "$H_PORTS_TAKEN" in *" $port "*) continue ;; esac
    H_PORTS_TAKEN="$H_PORTS_TAKEN$port "
    printf -v "$1" '%s' "$port"
    return 0
  done
  h_fail "no free port on 127.0.0.1 after 10 attempts"
}

# h_port_open PORT: true if something accepts connections on 127.0.0.1:PORT (1 s at most).
h_port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# h_wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds; fails
# the scenario after SECONDS, naming what it waited for.
h_wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  while ! "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      h_fail "timed out after ${seconds}s waiting for: $what"
    fi
    sleep 0.1
  done
}

# h_try_until SECONDS COMMAND...: like h_wait_until, but returns 1 on timeout instead of failing.
h_try_until() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  while ! "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
  return 0
}

h_pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
h_pid_gone() { ! h_pid_alive "$1"; }

# h_stop_pid PID NAME [SECONDS]: SIGTERM, bounded wait, then SIGKILL. Only pids we started.
h_stop_pid() {
  local pid=$1 name=$2 seconds=${3:-15}
  h_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  if ! h_try_until "$seconds" h_pid_gone "$pid"; then
    h_log "$name (pid $pid) did not stop within ${seconds}s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    h_try_until 5 h_pid_gone "$pid"
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------------------------------------
# SMTP sink (Postfix's smtp-sink): every message Postfix relays lands in $SCRATCH/sink/msg.*

SINK_PORT=
SINK_PID=
SINK_DUMP=1

# start_sink [nodump]: with "nodump" the sink only counts (the benchmark), it writes no files.
start_sink() {
  local attempt
  [ "${1:-}" = nodump ] && SINK_DUMP=0
  for attempt in 1 2 3; do
    h_free_port SINK_PORT
    local args=(-u "$H_POSTFIX_USER" -4 -m 512)
    [ "$SINK_DUMP" -eq 1 ] && args+=(-d "$SCRATCH/sink/msg.")
    "$POSTFIX_SBIN/smtp-sink" "${args[@]}" "127.0.0.1:$SINK_PORT" 256 \
      >>"$SCRATCH/log/sink.log" 2>&1 &
    SINK_PID=$!
    if h_try_until 10 h_sink_ready; then
      h_on_exit stop_sink
      h_log "smtp-sink pid $SINK_PID on 127.0.0.1:$SINK_PORT"
      return 0
    fi
    # Lost the port to someone else between picking and binding: pick another.
    h_stop_pid "$SINK_PID" smtp-sink 2
    SINK_PID=
  done
  h_fail "smtp-sink did not start (see $SCRATCH/log/sink.log)"
}
h_sink_ready() { h_pid_alive "$SINK_PID" && h_port_open "$SINK_PORT"; }

stop_sink() {
  [ -n "$SINK_PID" ] || return 0
  h_stop_pid "$SINK_PID" smtp-sink 5
  SINK_PID=
}

# sink_count: messages the sink has stored.
sink_count() { find "$SCRATCH/sink" -maxdepth 1 -type f -name 'msg.*' | wc -l; }

# sink_files: the stored messages, one path per line.
sink_files() { find "$SCRATCH/sink" -maxdepth 1 -type f -name 'msg.*' | sort; }

# ---------------------------------------------------------------------------------------------
# Postfix

PF_CONF=       # config_directory (main.cf, master.cf)
PF_QUEUE=      # queue_directory
PF_HOLD=       # $PF_QUEUE/hold
SMTP_PORT=
PF_STARTED=0
MILTER_SOCKET=
MAILLOG=

# Extra main.cf lines a scenario may set before start_postfix (e.g. shorter milter timeouts).
POSTFIX_EXTRA_MAIN_CF=${POSTFIX_EXTRA_MAIN_CF:-}

# write_postfix_config [milters|nomilter]: main.cf and master.cf for this instance.
write_postfix_config() {
  local mode=${1:-milters}
  PF_CONF=$SCRATCH/postfix
  PF_QUEUE=$SCRATCH/queue
  PF_HOLD=$PF_QUEUE/hold
  MILTER_SOCKET=$SCRATCH/run/milter.sock
  MAILLOG=$SCRATCH/log/maillog
  mkdir -p "$PF_CONF" "$PF_QUEUE" "$SCRATCH/data"
  chmod 0755 "$PF_CONF" "$PF_QUEUE"
  chown "$H_POSTFIX_USER:" "$SCRATCH/data"
  local milters="unix:$MILTER_SOCKET"
  [ "$mode" = nomilter ] && milters=
  cat >"$PF_CONF/main.cf" <<EOF
# Written by integration/lib/harness.sh for one test instance. Loopback only.
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $SCRATCH/data
mail_owner = $H_POSTFIX_USER
myhostname = bulkq-it.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtp_bind_address = 127.0.0.1
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relay_domains =
relayhost = [127.0.0.1]:$SINK_PORT
smtp_host_lookup = native
smtpd_peername_lookup = no
alias_maps =
alias_database =
biff = no
enable_long_queue_ids = yes
maillog_file = $SCRATCH/log/maillog
maillog_file_prefixes = $SCRATCH
smtpd_milters = $milters
non_smtpd_milters = $milters
milter_default_action = accept
smtpd_recipient_limit = 20000
smtpd_recipient_overshoot_limit = 20000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 10000
smtpd_hard_error_limit = 10000
smtp_tls_security_level = none
smtpd_tls_security_level = none
# Mail the sink refuses or that cannot go out stays visible in the queue for a test to find.
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1d
$POSTFIX_EXTRA_MAIN_CF
EOF
  # chroot column "n" everywhere: the instance lives in a scratch dir, not a prepared chroot.
  cat >"$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n -   n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# start_postfix [milters|nomilter]: configure, check and start the instance; wait until its SMTP
# port answers.
start_postfix() {
  [ -n "$SINK_PORT" ] || h_fail "start_postfix: start_sink first (the relayhost)"
  [ -n "$SMTP_PORT" ] || h_free_port SMTP_PORT
  write_postfix_config "${1:-milters}"
  if ! "$POSTFIX_SBIN/postfix" -c "$PF_CONF" check >"$SCRATCH/log/postfix-check.log" 2>&1; then
    cat "$SCRATCH/log/postfix-check.log" >&2
    h_fail "postfix -c $PF_CONF check failed"
  fi
  h_on_exit stop_postfix
  PF_STARTED=1
  if ! "$POSTFIX_SBIN/postfix" -c "$PF_CONF" start >"$SCRATCH/log/postfix-start.log" 2>&1; then
    cat "$SCRATCH/log/postfix-start.log" >&2
    h_fail "postfix -c $PF_CONF start failed"
  fi
  h_wait_until "$H_TIMEOUT" "Postfix SMTP on 127.0.0.1:$SMTP_PORT" h_port_open "$SMTP_PORT"
  h_log "Postfix up: config $PF_CONF, SMTP 127.0.0.1:$SMTP_PORT, relayhost 127.0.0.1:$SINK_PORT"
}

postfix_master_pid() {
  local f=$PF_QUEUE/pid/master.pid
  [ -r "$f" ] && tr -d ' \n' <"$f"
}

# The instance's processes: every process whose working directory is this queue directory
# (Postfix daemons chdir there). Used to wait for them to go, never to find anyone else's.
postfix_instance_pids() {
  local p cwd
  for p in /proc/[0-9]*; do
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [ "$cwd" = "$PF_QUEUE" ] && echo "${p#/proc/}"
  done
}
h_no_postfix_processes() { [ -z "$(postfix_instance_pids)" ]; }

stop_postfix() {
  [ "$PF_STARTED" -eq 1 ] || return 0
  local master
  master=$(postfix_master_pid)
  "$POSTFIX_SBIN/postfix" -c "$PF_CONF" stop >>"$SCRATCH/log/postfix-stop.log" 2>&1
  if [ -n "$master" ] && ! h_try_until 20 h_pid_gone "$master"; then
    h_log "Postfix master $master still running 20s after 'postfix stop': postfix abort"
    "$POSTFIX_SBIN/postfix" -c "$PF_CONF" abort >>"$SCRATCH/log/postfix-stop.log" 2>&1
    h_try_until 5 h_pid_gone "$master" || kill -KILL "$master" 2>/dev/null
  fi
  # The master's children notice it is gone and exit; give them a bounded moment, then stop the
  # stragglers of this instance (found by their working directory) by pid.
  if ! h_try_until 10 h_no_postfix_processes; then
    local p
    for p in $(postfix_instance_pids); do kill -KILL "$p" 2>/dev/null; done
  fi
  PF_STARTED=0
}

# reload_postfix [milters|nomilter]: rewrite main.cf and make the running master re-read it.
reload_postfix() {
  write_postfix_config "${1:-milters}"
  "$POSTFIX_SBIN/postfix" -c "$PF_CONF" reload >>"$SCRATCH/log/postfix-start.log" 2>&1 ||
    h_fail "postfix -c $PF_CONF reload failed"
}

# hold_ids: the queue ids in hold/ (the hold queue is not hashed here), one per line.
hold_ids() { find "$PF_HOLD" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sort; }
hold_count() { hold_ids | wc -l; }
# Complete held files: Postfix sets mode 0700 once the file is committed (MTA-FACTS §1).
hold_complete_count() {
  find "$PF_HOLD" -mindepth 1 -maxdepth 1 -type f -perm -0100 2>/dev/null | wc -l
}
# Messages in the other queues (incoming, active, deferred, maildrop): Postfix still has them.
queue_busy_count() {
  find "$PF_QUEUE/incoming" "$PF_QUEUE/active" "$PF_QUEUE/deferred" "$PF_QUEUE/maildrop" \
    -type f 2>/dev/null | wc -l
}
h_hold_complete_is() { [ "$(hold_complete_count)" -eq "$1" ] && [ "$(hold_count)" -eq "$1" ]; }
h_queue_empty() { [ "$(queue_busy_count)" -eq 0 ]; }

# wait_hold N [SECONDS]: until hold/ has exactly N files, all complete (mode 0700).
wait_hold() {
  h_wait_until "${2:-$H_TIMEOUT}" "$1 complete file(s) in $PF_HOLD (found $(hold_count))" \
    h_hold_complete_is "$1"
}

# postcat_held ID: the held message as Postfix sees it (envelope and content, milter edits
# applied).
postcat_held() { "$POSTFIX_SBIN/postcat" -c "$PF_CONF" -q "$1"; }

# maillog_count REGEX: lines of this instance's maillog matching REGEX (extended).
maillog_count() { grep -cE -- "$1" "$MAILLOG" 2>/dev/null || true; }
h_maillog_count_ge() { [ "$(maillog_count "$1")" -ge "$2" ]; }

# wait_delivered N [SECONDS]: until N deliveries to the sink are logged (status=sent) and the
# sink holds N messages.
wait_delivered() {
  local n=$1 seconds=${2:-$H_TIMEOUT}
  h_wait_until "$seconds" "$n delivery(ies) logged as status=sent in $MAILLOG" \
    h_maillog_count_ge ' status=sent ' "$n"
  if [ "$SINK_DUMP" -eq 1 ]; then
    h_wait_until 10 "$n message file(s) in the sink" h_sink_count_ge "$n"
  fi
}
h_sink_count_ge() { [ "$(sink_count)" -ge "$1" ]; }

# ---------------------------------------------------------------------------------------------
# bulkqd and bulkqctl

BULKQD_PID=
BULKQ_TOML=
ADMIN_SOCKET=
JOURNAL_DIR=
BULKQD_LOG=
BULKQD_RUNS=0
BULKQD_LAST_EXIT=

# write_bulkq_toml [FILE] [EXTRA...]: the configuration for this instance; each EXTRA argument is
# appended as a line (complete tables, e.g. $'[bulk]\nsender_domains = ["bulk.test"]').
# Defaults: the stock bulk rules plus sender domain bulk-sender.test (mail from it is bulk:
# smtp-source cannot add headers).
write_bulkq_toml() {
  local file=${1:-$SCRATCH/bulkq.toml}
  shift || true
  ADMIN_SOCKET=$SCRATCH/run/admin.sock
  JOURNAL_DIR=$SCRATCH/journal
  BULKQ_TOML=$file
  local bulk_table=$'[bulk]\nsender_domains = ["bulk-sender.test"]'
  # Delivery is off unless a scenario passes its own [delivery] table (with [dns] servers on
  # loopback): the intake scenarios look at held mail, and nothing may ask a DNS server beyond
  # this machine.
  local delivery_table=$'[delivery]\nenabled = false'
  # The volume counter's store lives in the scratch directory; a scenario's own [quota] table
  # must name one there too.
  local quota_table
  quota_table=$(printf '[quota]\ndirectory = "%s"' "$SCRATCH/volume")
  # A scenario's own [admin] table must name this socket too.
  local admin_table
  admin_table=$(printf '[admin]\nsocket = "%s"' "$ADMIN_SOCKET")
  local extra line
  for extra in "$@"; do
    case "$extra" in
      '[bulk]'*) bulk_table= ;;
      '[delivery]'*) delivery_table= ;;
      '[quota]'*) quota_table= ;;
      '[admin]'*) admin_table= ;;
    esac
  done
  {
    cat <<EOF
# Written by integration/lib/harness.sh.
[log]
target = "stderr"
level = "${BULKQ_LOG_LEVEL:-info}"

[daemon]
user = "$H_POSTFIX_USER"

[milter]
socket = "unix:$MILTER_SOCKET"

[journal]
directory = "$JOURNAL_DIR"

[postfix]
config_directory = "$PF_CONF"

[intake]
commit_timeout = 30
EOF
    [ -n "$bulk_table" ] && printf '\n%s\n' "$bulk_table"
    [ -n "$delivery_table" ] && printf '\n%s\n' "$delivery_table"
    [ -n "$quota_table" ] && printf '\n%s\n' "$quota_table"
    [ -n "$admin_table" ] && printf '\n%s\n' "$admin_table"
    for line in "$@"; do printf '\n%s\n' "$line"; done
  } >"$file"
  chmod 0644 "$file"
}

# start_bulkqd [CONFIG]: bulkqd -f in the background (stderr → $SCRATCH/bulkqd.log, appended
# across restarts); waits until it answers `status` on its admin socket.
start_bulkqd() {
  local config=${1:-$BULKQ_TOML}
  [ -n "$config" ] || h_fail "start_bulkqd: write_bulkq_toml first"
  [ -z "$BULKQD_PID" ] || h_fail "start_bulkqd: bulkqd (pid $BULKQD_PID) is already running"
  BULKQD_LOG=$SCRATCH/bulkqd.log
  BULKQD_RUNS=$((BULKQD_RUNS + 1))
  printf '==== bulkqd start #%s at %s\n' "$BULKQD_RUNS" "$(date '+%H:%M:%S.%N')" >>"$BULKQD_LOG"
  "$BULKQD" -f -c "$config" >>"$BULKQD_LOG" 2>&1 &
  BULKQD_PID=$!
  [ "$BULKQD_RUNS" -eq 1 ] && h_on_exit stop_bulkqd
  local deadline=$((SECONDS + H_TIMEOUT))
  while ! bulkqd_answers; do
    if ! h_pid_alive "$BULKQD_PID"; then
      wait "$BULKQD_PID" 2>/dev/null
      local rc=$?
      BULKQD_PID=
      h_fail "bulkqd exited (status $rc) during start-up; see $BULKQD_LOG"
    fi
    [ "$SECONDS" -ge "$deadline" ] &&
      h_fail "bulkqd (pid $BULKQD_PID) did not answer status on $ADMIN_SOCKET within ${H_TIMEOUT}s"
    sleep 0.1
  done
  [ -S "$MILTER_SOCKET" ] || h_wait_until 10 "milter socket $MILTER_SOCKET" test -S "$MILTER_SOCKET"
  h_log "bulkqd pid $BULKQD_PID answers on $ADMIN_SOCKET"
}

bulkqd_answers() { "$BULKQCTL" -s "$ADMIN_SOCKET" status --json >/dev/null 2>&1; }

# stop_bulkqd: SIGTERM by pid, bounded wait (then SIGKILL, reported).
stop_bulkqd() {
  [ -n "$BULKQD_PID" ] || return 0
  local pid=$BULKQD_PID
  BULKQD_PID=
  if ! h_pid_alive "$pid"; then
    wait "$pid" 2>/dev/null
    return 0
  fi
  kill -CONT "$pid" 2>/dev/null  # a scenario may have stopped it (SIGSTOP)
  kill -TERM "$pid" 2>/dev/null
  if ! h_try_until 20 h_pid_gone "$pid"; then
    h_log "bulkqd (pid $pid) still running 20s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    h_try_until 5 h_pid_gone "$pid"
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" 2>/dev/null
  BULKQD_LAST_EXIT=$?
  return 0
}

# kill_bulkqd [SIGNAL]: SIGKILL (or SIGNAL) by pid, no clean-up chance: the crash case.
kill_bulkqd() {
  [ -n "$BULKQD_PID" ] || return 0
  local pid=$BULKQD_PID
  BULKQD_PID=
  kill "-${1:-KILL}" "$pid" 2>/dev/null
  h_try_until 10 h_pid_gone "$pid" || h_fail "bulkqd (pid $pid) survived SIG${1:-KILL}"
  wait "$pid" 2>/dev/null
  return 0
}

# bulkqd_alive: the bulkqd we started is still running (no crash).
bulkqd_alive() { h_pid_alive "$BULKQD_PID"; }

# status_json: the raw `bulkqctl status --json` reply.
status_json() { "$BULKQCTL" -s "$ADMIN_SOCKET" status --json; }

# status_field PATH...: members of the status object (dotted paths such as fail_open.total),
# one per line; fails the scenario if bulkqd does not answer or the member is missing.
status_field() {
  local reply
  reply=$(status_json 2>&1) || h_fail "bulkqctl status failed: $reply"
  printf '%s' "$reply" | python3 -c '
import json, sys
reply = json.load(sys.stdin)
if reply.get("ok") is not True:
    sys.exit("status reply not ok: %r" % (reply,))
for path in sys.argv[1:]:
    value = reply["status"]
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            sys.exit("status has no member %s: %s" % (path, json.dumps(reply["status"])))
        value = value[part]
    print(json.dumps(value) if not isinstance(value, (int, str)) or isinstance(value, bool) else value)
' "$@" || h_fail "cannot read status member(s) $*: $reply"
}

# status_line: a short one-line summary for logs.
status_summary() {
  status_json 2>/dev/null | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)["status"]
except Exception as e:
    print("(no status: %s)" % e); sys.exit(0)
keys = ["messages", "recipients", "domains", "pending_commit", "diverted_total", "passed_total",
        "recovered_messages", "adopted_messages", "dropped_records"]
out = ["%s=%s" % (k, s.get(k)) for k in keys]
out.append("fail_open=%s" % json.dumps(s.get("fail_open"), separators=(",", ":")))
print(" ".join(out))'
}

h_status_is() {  # h_status_is PATH OP VALUE (OP: -eq -ge -le -gt -lt)
  local got
  got=$("$BULKQCTL" -s "$ADMIN_SOCKET" status --json 2>/dev/null | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)["status"]
    for part in sys.argv[1].split("."):
        v = v[part]
    print(int(v))
except Exception:
    print("")' "$1") || return 1
  [ -n "$got" ] || return 1
  case $2 in
    -eq) [ "$got" -eq "$3" ] ;;
    -ge) [ "$got" -ge "$3" ] ;;
    -le) [ "$got" -le "$3" ] ;;
    -gt) [ "$got" -gt "$3" ] ;;
    -lt) [ "$got" -lt "$3" ] ;;
    *) return 1 ;;
  esac
}

# wait_status PATH OP VALUE [SECONDS]: until status member PATH OP VALUE holds.
wait_status() {
  local seconds=${4:-$H_TIMEOUT}
  if ! h_try_until "$seconds" h_status_is "$1" "$2" "$3"; then
    h_fail "timed out after ${seconds}s waiting for status $1 $2 $3; status now: $(status_summary)"
  fi
}

# wait_bulkqd_log REGEX [SECONDS]: until bulkqd's log has a line matching REGEX (extended).
wait_bulkqd_log() {
  h_wait_until "${2:-$H_TIMEOUT}" "a bulkqd log line matching /$1/ in $BULKQD_LOG" \
    grep -qE -- "$1" "$BULKQD_LOG"
}

# ---------------------------------------------------------------------------------------------
# Sending mail

H_SWAKS_N=0
LAST_QUEUE_ID=
LAST_SWAKS_LOG=

# send_mail SWAKS-ARGS...: one SMTP transaction to the instance with swaks; returns swaks's
# status. Sets LAST_SWAKS_LOG (the whole conversation) and LAST_QUEUE_ID ("queued as ID").
send_mail() {
  H_SWAKS_N=$((H_SWAKS_N + 1))
  LAST_SWAKS_LOG=$SCRATCH/swaks/$H_SWAKS_N.log
  LAST_QUEUE_ID=
  local rc=0
  timeout 120 swaks --server "127.0.0.1:$SMTP_PORT" --helo client.bulkq.test --timeout 60 \
    "$@" </dev/null >"$LAST_SWAKS_LOG" 2>&1 || rc=$?
  LAST_QUEUE_ID=$(sed -nE 's/.*250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+).*/\1/p' "$LAST_SWAKS_LOG" |
    tail -n 1)
  return "$rc"
}

# send_ok SWAKS-ARGS...: send_mail that must be accepted; prints nothing, sets LAST_QUEUE_ID.
send_ok() {
  send_mail "$@" || {
    tail -n 20 "$LAST_SWAKS_LOG" >&2
    h_fail "swaks $* failed (exit $?): see above"
  }
  [ -n "$LAST_QUEUE_ID" ] || { tail -n 20 "$LAST_SWAKS_LOG" >&2; h_fail "no 'queued as' in the reply"; }
}

# ---------------------------------------------------------------------------------------------
# Assertions: each prints what was expected and what was found.

assert_eq() {  # assert_eq WHAT EXPECTED GOT
  [ "$2" = "$3" ] || h_fail "$1: expected '$2', got '$3'"
  h_log "ok: $1 = $3"
}
assert_ge() {  # assert_ge WHAT MINIMUM GOT
  [ "$3" -ge "$2" ] 2>/dev/null || h_fail "$1: expected >= $2, got '$3'"
  h_log "ok: $1 = $3 (>= $2)"
}
assert_status() {  # assert_status PATH EXPECTED
  assert_eq "status $1" "$2" "$(status_field "$1")"
}
assert_file_mode() {  # assert_file_mode FILE MODE (octal, e.g. 700)
  local got
  got=$(stat -c '%a' "$1" 2>/dev/null) || h_fail "$1: no such file"
  assert_eq "mode of $1" "$2" "$got"
}
assert_grep() {  # assert_grep WHAT REGEX FILE
  grep -qE -- "$2" "$3" || h_fail "$1: no line matching /$2/ in $3"
  h_log "ok: $1: $(grep -m1 -E -- "$2" "$3" | cut -c1-200)"
}
assert_no_grep() {  # assert_no_grep WHAT REGEX FILE
  if grep -qE -- "$2" "$3" 2>/dev/null; then
    h_fail "$1: unexpected line matching /$2/ in $3: $(grep -m1 -E -- "$2" "$3" | cut -c1-200)"
  fi
  h_log "ok: $1"
}
assert_bulkqd_alive() {
  bulkqd_alive || h_fail "bulkqd (started as pid ${BULKQD_PID:-?}) is no longer running"
  bulkqd_answers || h_fail "bulkqd does not answer status on $ADMIN_SOCKET"
}

# sink_body FILE: the body (after the first empty line) of a message the sink stored, with the
# CR of each line's CRLF removed and the sink's trailing empty line dropped.
sink_body() {
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
head, sep, body = data.partition(b"\n\n")
if body.endswith(b"\n\n"):
    body = body[:-1]
sys.stdout.buffer.write(body)
PY
}

# sink_find REGEX: the stored messages whose text matches REGEX (extended), one path per line.
sink_find() { sink_files | while read -r f; do grep -qaE -- "$1" "$f" && echo "$f"; done; true; }

# write_message FILE [HEADER-LINE...] [-- BODY-LINE...]: a complete RFC 5322 message (LF line
# ends; swaks sends CRLF) with a unique Message-Id and Subject. Sets MESSAGE_ID (a variable, not
# output: the counter must survive, which a $(...) subshell would not let it).
H_MSG_N=0
write_message() {
  local file=$1
  shift
  H_MSG_N=$((H_MSG_N + 1))
  local id="<it-$H_NAME-$$-$H_MSG_N-$RANDOM@bulkq.test>"
  {
    printf 'From: Sender <sender@bulkq.test>\n'
    printf 'To: Recipient <rcpt@bulkq.test>\n'
    printf 'Subject: bulkq integration %s #%s\n' "$H_NAME" "$H_MSG_N"
    printf 'Date: %s\n' "$(LC_ALL=C date -R)"
    printf 'Message-Id: %s\n' "$id"
    while [ $# -gt 0 ] && [ "$1" != -- ]; do printf '%s\n' "$1"; shift; done
    [ "${1:-}" = -- ] && shift
    printf '\n'
    if [ $# -gt 0 ]; then
      printf '%s\n' "$@"
    else
      printf 'Body of message %s of %s.\n' "$H_MSG_N" "$H_NAME"
    fi
  } >"$file"
  MESSAGE_ID=$id
}

# delivered_as_sent SENT-FILE DUMP-FILE: true if the sink's copy is the sent message, untouched:
# after smtp-sink's own headers and Postfix's one Received: header, the same bytes (line ends
# normalised to LF, trailing empty lines ignored). Prints a short diff when not.
delivered_as_sent() {
  python3 - "$1" "$2" <<'PY'
import sys, difflib
sent = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
dump = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
lines = dump.split(b"\n")
# Skip smtp-sink's X-* lines, its Received: header and Postfix's Received: header, each with
# its continuation lines.
i, received = 0, 0
while i < len(lines) and received < 2:
    if lines[i].startswith(b"Received:"):
        received += 1
    i += 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
got = b"\n".join(lines[i:]).rstrip(b"\n")
want = sent.rstrip(b"\n")
if got == want:
    sys.exit(0)
for line in list(difflib.unified_diff(want.decode("latin-1").split("\n"),
                                      got.decode("latin-1").split("\n"),
                                      "sent", "delivered", lineterm=""))[:40]:
    print(line[:200], file=sys.stderr)
sys.exit(1)
PY
}
