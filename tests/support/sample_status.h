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
  status.fail_open = {1, 2, 3, 4};
  status.journal_ok = false;
  status.journal_error = std::move(journal_error);
  status.memory_bytes = 536870912;
  status.memory_limit_bytes = 1073741824;
  status.recovered_messages = 10;
  status.adopted_messages = 1;
  status.dropped_records = 3;
  return status;
}

}  // namespace bulkq::testing
