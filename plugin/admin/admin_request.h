// AdminRequest: one request on the admin socket, and its one-line wire form.
//
// The wire form is the words of bulkqctl's command line, one request per line:
//
//   status | queues [--top N] [--sort size|age|rate] | domain D | messages D [--page N] | pause D
//   | resume D | flush [D] | dns D
//   | release D | release --all | metrics | reload
//
// Pure and bounded: the parser reads untrusted bytes from any local peer that may connect, so
// every malformed line (over-long, control bytes, unknown words, missing or extra arguments, bad
// numbers, bad domains) is a clear error string, never a crash. Error strings are printable
// ASCII, safe to put in a log line or a reply. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "admin/admin_command.h"

namespace bulkq {

// Longest request line accepted, without its line terminator.
inline constexpr std::size_t kMaxAdminRequestLength = 4096;
// `queues --top N` takes 1 ≤ N ≤ kMaxQueuesTop.
inline constexpr std::uint32_t kMaxQueuesTop = 100000;

// `queues --sort`: most recipients (waiting and in flight), longest-waiting head, or most
// recipients delivered per second lately first.
enum class QueueOrder : std::uint8_t { size, age, rate };

struct AdminRequest {
  AdminCommand command = AdminCommand::status;
  std::string domain;     // canonical (normalise_domain); empty when the command has none
  std::uint32_t top = 0;  // queues --top N; 0 when not given
  QueueOrder sort = QueueOrder::size;  // queues --sort size|age|rate
  std::uint32_t page = 0;              // messages D --page N (1 = the first); 0 when not given
  bool all = false;                    // release --all

  friend bool operator==(const AdminRequest&, const AdminRequest&) = default;
};

struct AdminRequestResult {
  AdminRequest request;  // set when ok()
  std::string error;     // set when !ok(): what is wrong, and the command's usage where it helps
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// One line as read from the socket, without its '\n' (a trailing '\r' is tolerated). Words are
// separated by spaces or tabs.
[[nodiscard]] AdminRequestResult parse_admin_request(std::string_view line);

// The same request already split into words, as bulkqctl has it from argv. A word holding a space
// or a control byte is refused: it could not be sent as one word.
[[nodiscard]] AdminRequestResult parse_admin_request_words(std::span<const std::string_view> words);

// The wire form of `request`, without the '\n'. For a request the parser produced,
// parse_admin_request(to_request_line(r)) gives r back.
[[nodiscard]] std::string to_request_line(const AdminRequest& request);

}  // namespace bulkq
