#include "milter/admin_answers.h"

#include "admin/status_reply.h"

namespace bulkq {

std::string answer_admin_request(const AdminRequest& request, const StatusBoard& board,
                                 const AskScheduler& ask, const ReloadConfiguration& reload) {
  switch (request.command) {
    case AdminCommand::status:
      return status_reply_json(board.latest());
    case AdminCommand::queues:
    case AdminCommand::domain:
    case AdminCommand::messages:
    case AdminCommand::pause:
    case AdminCommand::resume:
    case AdminCommand::flush:
    case AdminCommand::dns:
    case AdminCommand::metrics:
    case AdminCommand::release: {
      std::optional<std::string> reply = ask ? ask(request) : std::nullopt;
      if (!reply) {
        return error_reply_json(std::string(to_string(request.command)) +
                                ": the scheduler thread did not answer in time (starting, "
                                "stopping or very busy); try again");
      }
      return std::move(*reply);
    }
    case AdminCommand::reload:
      if (reload) return reload();
      break;
  }
  // Every command is listed above, so -Wswitch points here when a new one is added.
  return error_reply_json(std::string(to_string(request.command)) +
                          ": not available in this version");
}

}  // namespace bulkq
