#include "milter/metrics_http_server.h"

#include <chrono>
#include <set>
#include <utility>

#include "core/third_party_headers.h"
BULKQ_THIRD_PARTY_HEADERS_BEGIN
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
BULKQ_THIRD_PARTY_HEADERS_END

namespace bulkq {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kRequestTimeout{5};
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kMaxConnections = 16;

class Connection;

// What the acceptor and the connections share; outlives the server object while connections run.
struct Shared {
  std::function<std::string()> metrics;
  std::set<Connection*> open;
  bool stopped = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    shared_->open.insert(this);
  }
  ~Connection() { shared_->open.erase(this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() {
    parser_.header_limit(kHeaderLimit);
    parser_.body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || shared_->stopped) {
      close();
      return;
    }
    if (ec) {
      respond(http::status::bad_request, "bad request\n", 11);
      return;
    }
    const http::request<http::empty_body>& request = parser_.get();
    const unsigned version = request.version();
    if (request.method() != http::verb::get) {
      response_.set(http::field::allow, "GET");
      respond(http::status::method_not_allowed, "only GET\n", version);
      return;
    }
    if (request.target() != "/metrics") {
      respond(http::status::not_found, "not found (try /metrics)\n", version);
      return;
    }
    response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    respond(http::status::ok, shared_->metrics ? shared_->metrics() : std::string(), version);
  }

  void respond(http::status status, std::string body, unsigned version) {
    response_.result(status);
    response_.version(version == 10 ? 10 : 11);
    response_.set(http::field::server, "bulkqd");
    if (response_.find(http::field::content_type) == response_.end()) {
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
    }
    response_.keep_alive(false);
    response_.body() = std::move(body);
    response_.prepare_payload();
    stream_.expires_after(kRequestTimeout);
    http::async_write(
        stream_, response_,
        [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit};
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
  std::shared_ptr<Shared> shared_;
};

class BeastMetricsServer final : public MetricsHttpServer {
 public:
  BeastMetricsServer(asio::io_context& io, std::shared_ptr<Shared> shared)
      : io_(io), acceptor_(io), shared_(std::move(shared)) {}
  ~BeastMetricsServer() override { stop(); }

  std::string listen(const std::string& address, std::uint16_t port) {
    const std::string name =
        (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
        std::to_string(port);
    boost::system::error_code ec;
    const asio::ip::address ip = asio::ip::make_address(address, ec);
    if (ec) return "metrics listener " + name + ": not a numeric address";
    const tcp::endpoint endpoint(ip, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "metrics listener " + name + ": " + ec.message();
    accept();
    return {};
  }

  void stop() override {
    if (shared_->stopped) return;
    shared_->stopped = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    const std::set<Connection*> open = shared_->open;
    for (Connection* connection : open)
      connection->close();
  }

 private:
  void accept() {
    acceptor_.async_accept(
        io_, [this, shared = shared_](boost::system::error_code ec, tcp::socket socket) {
          if (shared->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) {
            if (shared->open.size() >= kMaxConnections) {
              boost::system::error_code ignored;
              socket.close(ignored);
            } else {
              std::make_shared<Connection>(std::move(socket), shared)->start();
            }
          }
          accept();
        });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace

MetricsHttpServerResult start_metrics_http_server(asio::io_context& io, const std::string& address,
                                                  std::uint16_t port,
                                                  std::function<std::string()> metrics) {
  auto shared = std::make_shared<Shared>();
  shared->metrics = std::move(metrics);
  auto server = std::make_unique<BeastMetricsServer>(io, shared);
  MetricsHttpServerResult result;
  result.error = server->listen(address, port);
  if (result.ok()) result.server = std::move(server);
  return result;
}

}  // namespace bulkq
