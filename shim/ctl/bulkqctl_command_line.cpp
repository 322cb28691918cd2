#include "ctl/bulkqctl_command_line.h"

#include <optional>
#include <vector>

namespace bulkq {
namespace {

constexpr std::string_view kUsage =
    "usage: bulkqctl [-c FILE | -s SOCKET] COMMAND [ARGS] [--json]\n"
    "\n"
    "Asks bulkqd, over its admin socket, for status or to act on a domain queue.\n"
    "\n"
    "options:\n"
    "  -c FILE     read admin.socket from this configuration file\n"
    "              (default /etc/bulkq/bulkq.toml)\n"
    "  -s SOCKET   connect to this admin socket; no configuration file is read\n"
    "  --json      print the daemon's JSON reply, for scripts\n"
    "  -h, --help  print this help\n"
    "\n"
    "commands:\n"
    "  status                     engine health and totals\n"
    "  queues [--top N] [--sort size|age]\n"
    "                             domain queues, largest (or oldest) first; 100 unless --top\n"
    "  domain DOMAIN              one domain queue in detail\n"
    "  messages DOMAIN [--page N] the messages waiting for DOMAIN, 50 a page\n"
    "  pause DOMAIN               stop delivering to DOMAIN\n"
    "  resume DOMAIN              deliver to DOMAIN again\n"
    "  flush [DOMAIN]             retry now: DOMAIN, or every domain\n"
    "  dns DOMAIN                 the cached DNS data for DOMAIN\n"
    "  release DOMAIN | --all     hand held messages back to the MTA (unfinished recipients)\n"
    "  metrics                    metrics in Prometheus text format\n"
    "  reload                     re-read the configuration: limits and shaping apply at once\n"
    "\n"
    "exit status: 0 ok, 1 the request failed, 2 usage error\n";

BulkqctlCommandLine usage_error(std::string error) {
  BulkqctlCommandLine line;
  line.action = BulkqctlCommandLine::Action::usage_error;
  line.error = std::move(error);
  return line;
}

bool is_help(std::string_view arg) {
  return arg == "-h" || arg == "--help";
}

}  // namespace

BulkqctlCommandLine parse_bulkqctl_command_line(std::span<const std::string_view> args) {
  for (std::string_view arg : args) {
    if (is_help(arg)) {
      BulkqctlCommandLine line;
      line.action = BulkqctlCommandLine::Action::help;
      return line;
    }
  }

  BulkqctlCommandLine line;
  BulkqctlOptions& options = line.options;
  std::optional<std::string> config_path;
  std::optional<std::string> socket_path;
  std::size_t i = 0;
  // Options before COMMAND. -c and -s take their value attached ("-cFILE") or as the next word,
  // as getopt does.
  for (; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--json") {
      options.json = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // COMMAND
    const char option = arg[1];
    if (arg.substr(0, 2) != "-c" && arg.substr(0, 2) != "-s") {
      return usage_error("unknown option \"" + std::string(arg) + "\"");
    }
    const std::string missing_value =
        option == 'c' ? "-c needs a file name" : "-s needs a socket path";
    std::string_view value = arg.substr(2);
    if (value.empty()) {
      if (i + 1 == args.size()) return usage_error(missing_value);
      value = args[++i];
    }
    std::optional<std::string>& slot = option == 'c' ? config_path : socket_path;
    if (slot) return usage_error(std::string("-") + option + " given more than once");
    if (value.empty()) return usage_error(missing_value);
    slot = std::string(value);
  }
  if (config_path && socket_path) return usage_error("-c and -s cannot be used together");
  if (socket_path && socket_path->size() > kMaxUnixSocketPathLength) {
    return usage_error("socket path is " + std::to_string(socket_path->size()) +
                       " bytes long (a Unix socket address holds at most " +
                       std::to_string(kMaxUnixSocketPathLength) + ")");
  }

  std::vector<std::string_view> words;
  for (; i < args.size(); ++i) {
    if (args[i] == "--json") {
      options.json = true;
    } else {
      words.push_back(args[i]);
    }
  }
  if (words.empty()) return usage_error("missing command");
  AdminRequestResult request = parse_admin_request_words(words);
  if (!request.ok()) return usage_error(std::move(request.error));

  options.request = std::move(request.request);
  if (config_path) options.config_path = std::move(*config_path);
  if (socket_path) options.socket_path = std::move(*socket_path);
  return line;
}

std::string_view bulkqctl_usage() {
  return kUsage;
}

}  // namespace bulkq
