// MetricsHttpServer: the optional HTTP listener for Prometheus ([admin] metrics_listen).
//
// GET /metrics → 200 with the Prometheus text the callback makes; GET of any other path → 404;
// any other method → 405 (with Allow: GET); a malformed or over-long request (headers over
// 8 KiB, any body) → 400; every response closes the connection. A client gets 5 seconds to
// send its request and take the response; at most 16 connections are served at once (more are
// closed at once), so a slow or hostile scraper costs little and never touches the engine.
//
// Thread: runs on the io_context it is given (the scheduler thread's), so the callback reads the
// engine's state on the thread that owns it. Boost.Beast parses HTTP; it and Asio stay in
// metrics_http_server.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace bulkq {

class MetricsHttpServer {
 public:
  virtual ~MetricsHttpServer() = default;
  // Stops accepting and closes the connections open.
  virtual void stop() = 0;
};

struct MetricsHttpServerResult {
  std::unique_ptr<MetricsHttpServer> server;  // set when ok()
  std::string error;  // set when !ok(): "metrics listener 127.0.0.1:9725: Address in use"
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Binds `address` (a numeric IPv4 or IPv6 address) and `port` and starts accepting.
[[nodiscard]] MetricsHttpServerResult start_metrics_http_server(
    boost::asio::io_context& io, const std::string& address, std::uint16_t port,
    std::function<std::string()> metrics);

}  // namespace bulkq
