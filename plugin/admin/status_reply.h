// The admin socket's reply lines for `status`, and the error reply every command may get.
//
// Pure, any thread (the admin server's thread in bulkqd). Each reply is one line of JSON without
// the '\n' the server appends:
//
//   {"ok":true,"status":{"version":"0.1.0","started_unix":…,"uptime_seconds":…,"messages":…,
//    "recipients":…,"domains":…,"pending_commit":…,"diverted_total":…,"passed_total":…,
//    "commit_expired_total":…,"fail_open":{"journal":…,"memory":…,"handoff":…,"spool":…,
//    "total":…},"journal_ok":true,"journal_error":"","memory_bytes":…,"memory_limit_bytes":…,
//    "recovered_messages":…,"adopted_messages":…,"dropped_records":…}}
//   {"ok":false,"error":"…"}
//
// Member names are EngineStatus's field names, in its order; numbers are exact decimal integers.
// Strings are escaped by append_json_string (json_string.h), so any bytes in them still make one
// valid JSON line.
#pragma once

#include <string>
#include <string_view>

#include "admin/engine_status.h"

namespace bulkq {

[[nodiscard]] std::string status_reply_json(const EngineStatus& status);

[[nodiscard]] std::string error_reply_json(std::string_view error);

}  // namespace bulkq
