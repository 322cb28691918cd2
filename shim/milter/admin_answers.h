// bulkqd's answers to admin requests, in this version: `status` from the StatusBoard, every
// other command an error reply saying it is not available yet.
//
// Called on the admin server's thread (AdminServer's handler); reads the board's latest copy and
// nothing else, so it never waits for the scheduler thread beyond one copy. Pure otherwise.
//
// bulkqd's use: the handler given to AdminServer::open is
//   [&board](const AdminRequest& request) { return answer_admin_request(request, board); }
#pragma once

#include <string>

#include "admin/admin_request.h"
#include "admin/status_board.h"

namespace bulkq {

// One reply line without '\n':
//   status    → status_reply_json(board.latest())
//   any other → {"ok":false,"error":"<command>: not available in this version"}
[[nodiscard]] std::string answer_admin_request(const AdminRequest& request,
                                               const StatusBoard& board);

}  // namespace bulkq
