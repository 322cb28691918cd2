// bulkqctl: the admin command-line client. `bulkqctl [-c FILE | -s SOCKET] COMMAND [ARGS] [--json]`
//
// Single-threaded and short-lived: read the command line, find the admin socket (from -s, or
// admin.socket in the configuration file), send one request line, print the reply, and exit 0 if
// the daemon says "ok": true, 1 if the request failed, 2 on a usage error. Without --json,
// `status` prints a table (ctl/status_view.h) and every other command its own view
// (ctl/command_view.h); with --json, the reply line as it came.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_parser.h"
#include "ctl/admin_client.h"
#include "ctl/admin_reply.h"
#include "ctl/bulkqctl_command_line.h"
#include "ctl/command_view.h"
#include "ctl/status_view.h"

namespace {

constexpr std::chrono::milliseconds kReplyTimeout{10000};
// Metrics for many domains make the largest replies; this is far above any real one.
constexpr std::size_t kMaxReplyBytes = 16 * 1024 * 1024;

int exit_with(bulkq::BulkqctlExit status) {
  return static_cast<int>(status);
}

void print_error(std::string_view message) {
  std::fprintf(stderr, "bulkqctl: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace

int main(int argc, char** argv) {
  using bulkq::BulkqctlCommandLine;
  using bulkq::BulkqctlExit;

  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const BulkqctlCommandLine command_line = bulkq::parse_bulkqctl_command_line(args);
  const std::string_view usage = bulkq::bulkqctl_usage();
  switch (command_line.action) {
    case BulkqctlCommandLine::Action::help:
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return exit_with(command_line.exit_status());
    case BulkqctlCommandLine::Action::usage_error:
      print_error(command_line.error);
      std::fwrite(usage.data(), 1, usage.size(), stderr);
      return exit_with(command_line.exit_status());
    case BulkqctlCommandLine::Action::run:
      break;
  }
  const bulkq::BulkqctlOptions& options = command_line.options;

  std::string socket_path = options.socket_path;
  if (socket_path.empty()) {
    const bulkq::ConfigResult config = bulkq::load_config_file(options.config_path);
    if (!config.ok()) {
      print_error(config.error);
      return exit_with(BulkqctlExit::request_failed);
    }
    socket_path = config.config.admin.socket;
  }

  const bulkq::AdminExchange exchange = bulkq::exchange_admin_request(
      socket_path, bulkq::to_request_line(options.request) + "\n", kReplyTimeout, kMaxReplyBytes);
  if (!exchange.ok()) {
    print_error(exchange.error);
    return exit_with(BulkqctlExit::request_failed);
  }

  const bulkq::AdminCommand command = options.request.command;
  if (!options.json) {
    const bulkq::StatusView view = command == bulkq::AdminCommand::status
                                       ? bulkq::render_status_view(exchange.reply)
                                       : bulkq::render_command_view(command, exchange.reply);
    if (!view.ok()) {
      print_error(view.error);
      return exit_with(BulkqctlExit::request_failed);
    }
    std::fwrite(view.text.data(), 1, view.text.size(), stdout);
    if (std::fflush(stdout) != 0) {
      print_error("cannot write the reply to standard output");
      return exit_with(BulkqctlExit::request_failed);
    }
    return exit_with(BulkqctlExit::ok);
  }

  // --json: the reply as the daemon sent it.
  std::fwrite(exchange.reply.data(), 1, exchange.reply.size(), stdout);
  std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0) {
    print_error("cannot write the reply to standard output");
    return exit_with(BulkqctlExit::request_failed);
  }

  const bulkq::AdminReplyStatus status = bulkq::read_admin_reply_status(exchange.reply);
  if (!status.ok) {
    print_error(status.error);
    return exit_with(BulkqctlExit::request_failed);
  }
  return exit_with(BulkqctlExit::ok);
}
