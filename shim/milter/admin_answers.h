// bulkqd's answers to admin requests: `status` from the StatusBoard (a copy the scheduler thread
// publishes every 100 ms, so it never waits for that thread); queues, domain, messages, pause,
// resume, flush, dns, metrics and release from the scheduler thread itself, which owns the queue
// map, the delivery engine and the DNS cache (`ask`, bounded by a timeout); reload from `reload`
// (ConfigurationReload).
//
// Called on the admin server's thread (AdminServer's handler), one request at a time.
//
// bulkqd's use: the handler given to AdminServer::open is
//   [&](const AdminRequest& request) { return answer_admin_request(request, board, ask, reload); }
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "admin/admin_request.h"
#include "admin/status_board.h"

namespace bulkq {

// Asks the scheduler thread; empty when it did not answer in time (or is not running yet).
using AskScheduler = std::function<std::optional<std::string>(const AdminRequest&)>;
// Reloads the configuration and returns the reply line (ConfigurationReload::reload).
using ReloadConfiguration = std::function<std::string()>;

// One reply line without '\n':
//   status          → status_reply_json(board.latest())
//   queues, domain, messages, pause, resume, flush, dns, metrics, release
//                   → ask(request), or an error reply when the scheduler thread did not answer
//   reload          → reload(), or an error reply when there is none
[[nodiscard]] std::string answer_admin_request(const AdminRequest& request,
                                               const StatusBoard& board, const AskScheduler& ask,
                                               const ReloadConfiguration& reload = {});

}  // namespace bulkq
