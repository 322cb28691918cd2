// bulkqd's answers in this version: status from the board; every other command not available.
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
  CHECK(answer_admin_request(AdminRequest{}, board) == status_reply_json(status));
}

TEST_CASE("admin answers: every other command is not available yet", "[admin]") {
  const StatusBoard board;
  for (AdminCommand command : kAdminCommands) {
    if (command == AdminCommand::status) continue;
    AdminRequest request;
    request.command = command;
    request.domain = "example.com";
    CAPTURE(to_string(command));
    CHECK(answer_admin_request(request, board) == R"({"ok":false,"error":")" +
                                                      std::string(to_string(command)) +
                                                      R"(: not available in this version"})");
  }
}
