#!/usr/bin/env bash
# Scenario 10: delivery.mode = "relay" — every domain's batches go to one smarthost, named by
# host name (resolved through dnsmasq, no MX lookup) and then by address literal; domains that
# have no DNS at all are delivered, since only the relay is looked up.
set -u
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/delivery_harness.sh
source "$(dirname "$0")/../lib/delivery_harness.sh"
h_init 10-relay

dns_host smarthost.test 127.0.0.31
start_dns
start_test_sink relay 127.0.0.31
start_sink
start_postfix

relay_config() {  # relay_config RELAY: bulkq.toml in relay mode
  write_bulkq_toml "$SCRATCH/bulkq.toml" \
    "$(printf '%s\n' '[delivery]' 'mode = "relay"' "relay = \"$1\"" 'helo_name = "bulkq.test"')" \
    "$(printf '%s\n' '[dns]' "servers = [\"$DNS_SERVER\"]" "cache_directory = \"$SCRATCH/dnscache\"")"
}

relay_config "smarthost.test:$TSINK_SMTP_PORT"
start_bulkqd
send_ok --from news@bulk-sender.test --to "a@nowhere-one.example,b@nowhere-two.example,c@nowhere-two.example"
wait_sink_stat relay recipients 3 30
assert_eq "recipients at the relay" "a@nowhere-one.example b@nowhere-two.example c@nowhere-two.example" \
  "$(sink_recipients_received relay | tr '\n' ' ' | sed 's/ $//')"
assert_grep "relay named in the log" 'to=<a@nowhere-one\.example>, relay=smarthost\.test\[127\.0\.0\.31\]:[0-9]+, .*status=sent' "$BULKQD_LOG"
stop_bulkqd

relay_config "[127.0.0.31]:$TSINK_SMTP_PORT"
start_bulkqd
send_ok --from news@bulk-sender.test --to "d@nowhere-three.example"
wait_sink_stat relay recipients 4 30
h_wait_until 30 "hold/ empty" h_hold_complete_is 0
wait_status messages -eq 0
h_log "relay by name and by address: 4 recipients delivered, $(sink_connections relay) connection(s)"
