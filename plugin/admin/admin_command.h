// AdminCommand: the verbs of the admin socket, spelled as bulkqctl's command words.
//
// Pure vocabulary shared by the request parser (admin_request.h), bulkqctl and, later, bulkqd's
// admin server; no thread owns it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bulkq {

enum class AdminCommand : std::uint8_t {
  status,    // engine health and totals
  queues,    // domain queues, largest first (--top N limits the list)
  domain,    // one domain queue in detail
  messages,  // the queued messages of one domain, a page at a time
  pause,     // stop delivering to a domain
  resume,    // undo pause
  flush,     // retry now: one domain, or every domain
  dns,       // the cached DNS data for a domain
  release,   // hand a domain's (or every) held message back to the MTA
  metrics,   // Prometheus text format
  reload,    // re-read the configuration
};

inline constexpr std::array kAdminCommands{
    AdminCommand::status,  AdminCommand::queues,  AdminCommand::domain, AdminCommand::messages,
    AdminCommand::pause,   AdminCommand::resume,  AdminCommand::flush,  AdminCommand::dns,
    AdminCommand::release, AdminCommand::metrics, AdminCommand::reload,
};

[[nodiscard]] constexpr std::string_view to_string(AdminCommand command) {
  switch (command) {
    case AdminCommand::status:
      return "status";
    case AdminCommand::queues:
      return "queues";
    case AdminCommand::domain:
      return "domain";
    case AdminCommand::messages:
      return "messages";
    case AdminCommand::pause:
      return "pause";
    case AdminCommand::resume:
      return "resume";
    case AdminCommand::flush:
      return "flush";
    case AdminCommand::dns:
      return "dns";
    case AdminCommand::release:
      return "release";
    case AdminCommand::metrics:
      return "metrics";
    case AdminCommand::reload:
      return "reload";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::optional<AdminCommand> parse_admin_command(std::string_view word) {
  for (AdminCommand command : kAdminCommands) {
    if (word == to_string(command)) return command;
  }
  return std::nullopt;
}

}  // namespace bulkq
