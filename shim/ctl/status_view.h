// The human form of `bulkqctl status`: bulkqd's status reply line rendered as a table.
//
// Pure (no I/O, no clock: the reply carries the times), so every case is unit-tested and fuzzed;
// bulkqctl's main thread calls it once when `status` is run without --json. The reply is
// untrusted: a failed reply gives its reason, a malformed one or one that lacks a member the
// table shows gives an error naming the member, and every string from the reply is escaped so
// the table is safe on a terminal (control characters as \xNN, bytes that are not UTF-8 too).
//
// The table (labels padded to one column, groups separated by a blank line):
//
//   bulkqd
//     version:         0.1.0
//     started:         2026-11-29 12:00:00 UTC
//     uptime:          2d 3h 4m 5s
//
//   Queue
//     messages:        1200
//     …
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

struct StatusView {
  std::string text;   // when ok(): the table, ending in a newline
  std::string error;  // when !ok(): the daemon's reason or what is wrong with the reply
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] StatusView render_status_view(std::string_view reply);

}  // namespace bulkq
