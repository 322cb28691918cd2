#include "milter/bulkqd_command_line.h"

namespace bulkq {
namespace {

constexpr std::string_view kUsage =
    "usage: bulkqd [-c FILE] [-f] [-t]\n"
    "\n"
    "The bulkq daemon: takes bulk mail from the MTA and delivers it by destination domain.\n"
    "\n"
    "options:\n"
    "  -c FILE     configuration file (default /etc/bulkq/bulkq.toml)\n"
    "  -f          stay in the foreground and log to stderr\n"
    "  -t          check the configuration file and exit: 0 if valid, 1 with the error if not\n"
    "  -h, --help  print this help\n"
    "\n"
    "exit status: 0 ok, 1 failed (invalid configuration, start-up error), 2 usage error\n";

BulkqdCommandLine usage_error(std::string error) {
  BulkqdCommandLine line;
  line.action = BulkqdCommandLine::Action::usage_error;
  line.error = std::move(error);
  return line;
}

}  // namespace

BulkqdCommandLine parse_bulkqd_command_line(std::span<const std::string_view> args) {
  BulkqdCommandLine line;
  BulkqdOptions& options = line.options;
  bool config_given = false;
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      return usage_error("unexpected argument \"" + std::string(arg) + "\"");
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (arg == "--help") {
      line.action = BulkqdCommandLine::Action::help;
      return line;
    }
    if (arg[1] == '-') return usage_error("unknown option \"" + std::string(arg) + "\"");
    // A group of one-letter flags; -c ends the group, taking the rest of it or the next word.
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const char flag = arg[j];
      if (flag == 'f') {
        options.foreground = true;
      } else if (flag == 't') {
        options.check_only = true;
      } else if (flag == 'h') {
        line.action = BulkqdCommandLine::Action::help;
        return line;
      } else if (flag == 'c') {
        std::string_view value = arg.substr(j + 1);
        if (value.empty()) {
          if (i + 1 == args.size()) return usage_error("-c needs a file name");
          value = args[++i];
        }
        if (value.empty()) return usage_error("-c needs a file name");
        if (config_given) return usage_error("-c given more than once");
        config_given = true;
        options.config_path = std::string(value);
        break;
      } else {
        return usage_error("unknown option \"-" + std::string(1, flag) + "\"");
      }
    }
  }
  return line;
}

std::string_view bulkqd_usage() {
  return kUsage;
}

}  // namespace bulkq
