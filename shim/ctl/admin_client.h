// One request/reply exchange with bulkqd's admin socket, as bulkqctl does it.
//
// Blocking, on bulkqctl's main thread: connect to the Unix socket, send the request line, read
// one reply line. Every wait is bounded by `timeout` and the reply by `max_reply_bytes`, so a
// stuck or misbehaving daemon cannot hang bulkqctl or make it allocate without limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace bulkq {

struct AdminExchange {
  std::string reply;  // the reply line without its '\n', when ok()
  std::string error;  // set when !ok(): names the socket and the system's reason
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// `request_line` must end in '\n' (to_request_line(request) + "\n").
[[nodiscard]] AdminExchange exchange_admin_request(const std::string& socket_path,
                                                   std::string_view request_line,
                                                   std::chrono::milliseconds timeout,
                                                   std::size_t max_reply_bytes);

}  // namespace bulkq
