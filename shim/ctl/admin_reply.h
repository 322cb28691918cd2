// What bulkqctl needs from the daemon's reply line: did the request succeed, and if not, why.
//
// A reply is one JSON object: {"ok":true,...} on success, {"ok":false,"error":"why"} on failure.
// The whole line must be well-formed JSON (json_document.h: strict, bounded nesting); only the
// top-level "ok" and "error" members are looked at. Pure; bulkqctl's main thread calls it once
// per reply.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

struct AdminReplyStatus {
  bool ok = false;
  // When !ok: the reply's "error" text, or why the reply could not be understood. Control
  // characters are escaped, so it is safe to print on a terminal.
  std::string error;
};

[[nodiscard]] AdminReplyStatus read_admin_reply_status(std::string_view reply);

}  // namespace bulkq
