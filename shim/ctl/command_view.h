// The human form of bulkqctl's replies to queues, domain, dns, pause, resume, flush and metrics
// (status has its own table: status_view.h).
//
// Pure, like status_view: the reply is untrusted, so a failed reply gives its reason, a reply
// without the members a view needs gives an error naming the member, and every string from it
// is made terminal-safe — except the metrics text, printed as Prometheus text when it is
// printable ASCII and refused otherwise.
//
//   queues:  DOMAIN  WAITING  IN FLIGHT  OLDEST  BACKOFF  (columns, "paused" marked), then
//            "N of M queue(s)"
//   domain:  key: value lines (queue, delivery, DNS hosts, last replies)
//   dns:     the DNS lines of domain
//   pause, resume, flush: the daemon's message
//   release: "released N message(s) (R recipient(s)) to the MTA", busy/failed/remaining, the ids
#pragma once

#include <string_view>

#include "admin/admin_command.h"
#include "ctl/status_view.h"

namespace bulkq {

[[nodiscard]] StatusView render_command_view(AdminCommand command, std::string_view reply);

}  // namespace bulkq
