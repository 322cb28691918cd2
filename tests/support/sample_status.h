// An EngineStatus with every figure set to a distinct value, for tests of the status reply and
// its rendering. Test-only, header-only.
#pragma once

#include <string>

#include "admin/engine_status.h"

namespace bulkq::testing {

inline EngineStatus sample_status(std::string journal_error) {
  EngineStatus status;
  status.version = "0.1.0";
  status.started_unix = 1796040000;
  status.uptime_seconds = 93784;
  status.messages = 1200;
  status.recipients = 45000;
  status.domains = 310;
  status.pending_commit = 4;
  status.diverted_total = 5000;
  status.passed_total = 70000;
  status.commit_expired_total = 2;
  status.fail_open = {1, 2, 3, 4, 5};
  status.journal_ok = false;
  status.journal_error = std::move(journal_error);
  status.memory_bytes = 536870912;
  status.memory_limit_bytes = 1073741824;
  status.recovered_messages = 10;
  status.adopted_messages = 1;
  status.dropped_records = 3;
  DeliveryStatus& d = status.delivery;
  d.enabled = true;
  d.sessions_open = 5;
  d.connections_idle = 13;
  d.waiting_retry = 6;
  d.connections = 70;
  d.batches_reused = 14;
  d.transactions = 3500;
  d.sent = 41000;
  d.deferred = 120;
  d.bounced = 11;
  d.expired = 1;
  d.dsn_sent = 9;
  d.dsn_failed = 2;
  d.dropped = 7;
  d.domain_backoffs = 8;
  d.dns_cache_entries = 300;
  d.dns_lookups_in_flight = 3;
  d.dns_hits = 2900;
  d.dns_misses = 310;
  d.dns_stale_served = 4;
  d.batches_waited_on_dns = 12;
  d.destinations = 40;
  d.destinations_backing_off = 3;
  d.destinations_suspended = 1;
  d.rate_deferrals = 250;
  d.concurrency_holds = 17;
  d.shaping_decreases = 21;
  d.rule_matches = 5;
  VolumeStatus& v = status.volume;
  v.period = "2026-11-30";
  v.messages = 900;
  v.recipients = 45000;
  v.messages_limit = 1000;
  v.recipients_limit = 0;
  v.sender_domains = 15;
  v.action = "tempfail";
  v.tempfailed = 16;
  return status;
}

}  // namespace bulkq::testing
