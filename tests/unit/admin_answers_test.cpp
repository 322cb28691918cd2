// bulkqd's answers: status from the board; the scheduler thread's commands through `ask` (an
// error reply when it does not answer), release included; reload through its hook.
#include <catch2/catch.hpp>
#include <string>

#include "admin/admin_command.h"
#include "admin/status_reply.h"
#include "milter/admin_answers.h"

using namespace bulkq;

TEST_CASE("admin answers: status comes from the board", "[admin]") {
  StatusBoard board;
  EngineStatus status;
  status.version = "0.1.0";
  status.messages = 7;
  board.publish(status);
  int asked = 0;
  const AskScheduler ask = [&asked](const AdminRequest&) -> std::optional<std::string> {
    ++asked;
    return std::string("{}");
  };
  CHECK(answer_admin_request(AdminRequest{}, board, ask) == status_reply_json(status));
  CHECK(asked == 0);  // never waits for the scheduler thread
}

TEST_CASE("admin answers: the scheduler thread's commands go to it", "[admin]") {
  const StatusBoard board;
  std::vector<AdminCommand> seen;
  const AskScheduler ask = [&seen](const AdminRequest& request) -> std::optional<std::string> {
    seen.push_back(request.command);
    return std::string(R"({"ok":true,"message":"done"})");
  };
  const AskScheduler silent = [](const AdminRequest&) -> std::optional<std::string> {
    return std::nullopt;
  };
  for (AdminCommand command :
       {AdminCommand::queues, AdminCommand::domain, AdminCommand::pause, AdminCommand::resume,
        AdminCommand::flush, AdminCommand::dns, AdminCommand::metrics, AdminCommand::release}) {
    AdminRequest request;
    request.command = command;
    request.domain = "example.com";
    CAPTURE(to_string(command));
    CHECK(answer_admin_request(request, board, ask) == R"({"ok":true,"message":"done"})");
    const std::string timed_out = answer_admin_request(request, board, silent);
    CHECK(timed_out.rfind(R"({"ok":false,"error":")" + std::string(to_string(command)) +
                              ": the scheduler thread did not answer in time",
                          0) == 0);
    CHECK(answer_admin_request(request, board, nullptr).rfind(R"({"ok":false)", 0) == 0);
  }
  CHECK(seen.size() == 8);
}

TEST_CASE("admin answers: reload asks the reload hook", "[admin]") {
  const StatusBoard board;
  AdminRequest reload;
  reload.command = AdminCommand::reload;
  int reloads = 0;
  CHECK(answer_admin_request(reload, board, nullptr, [&reloads] {
          ++reloads;
          return std::string(R"({"ok":true,"message":"reloaded"})");
        }) == R"({"ok":true,"message":"reloaded"})");
  CHECK(reloads == 1);
  CHECK(answer_admin_request(reload, board, nullptr) ==
        R"({"ok":false,"error":"reload: not available in this version"})");
}
