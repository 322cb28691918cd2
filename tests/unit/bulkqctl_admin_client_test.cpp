// bulkqctl's socket exchange against a one-shot server on a Unix socket in a fresh temporary
// directory (no fixed paths, no network): the reply line, and each way the exchange can fail.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "ctl/admin_client.h"
#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

using bulkq::testing::TempDir;

int listening_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  return fd;
}

// Accepts one connection, reads the request line into `received`, sends `reply`, and then either
// closes at once or (hold_open) waits for the client to close first.
class OneShotServer {
 public:
  OneShotServer(const std::string& path, std::string reply, bool hold_open)
      : listener_(listening_socket(path)),
        thread_([this, reply = std::move(reply), hold_open] { serve(reply, hold_open); }) {}
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  // Valid once the client's exchange has returned and the server thread is joined.
  std::string received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  void serve(const std::string& reply, bool hold_open) {
    const int connection = ::accept(listener_, nullptr, nullptr);
    if (connection < 0) return;
    std::array<char, 256> buffer{};
    while (received_.find('\n') == std::string::npos) {
      const ssize_t n = ::read(connection, buffer.data(), buffer.size());
      if (n <= 0) break;
      received_.append(buffer.data(), static_cast<std::size_t>(n));
    }
    if (!reply.empty()) (void)!::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
    if (hold_open) {
      while (::read(connection, buffer.data(), buffer.size()) > 0) {
      }
    }
    ::close(connection);
  }

  int listener_;
  std::string received_;
  std::thread thread_;
};

constexpr std::size_t kMaxReply = 1024;

}  // namespace

TEST_CASE("bulkqctl admin client: sends the line and returns the reply line", "[bulkqctl]") {
  const TempDir dir;
  const std::string path = dir.path() + "/admin.sock";
  OneShotServer server(path, "{\"ok\":true,\"queues\":[]}\nnot part of the reply", false);
  const AdminExchange exchange = exchange_admin_request(path, "queues --top 5\n", 5s, kMaxReply);
  CHECK(exchange.error == "");
  CHECK(exchange.reply == "{\"ok\":true,\"queues\":[]}");
  CHECK(server.received() == "queues --top 5\n");
}

TEST_CASE("bulkqctl admin client: each failure names the socket", "[bulkqctl]") {
  const TempDir dir;
  const std::string path = dir.path() + "/admin.sock";

  SECTION("nobody there") {
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          "cannot connect to " + path + ": No such file or directory (is bulkqd running?)");
  }
  SECTION("a stale socket file") {
    ::close(listening_socket(path));
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          "cannot connect to " + path + ": Connection refused (is bulkqd running?)");
  }
  SECTION("closed without a reply") {
    OneShotServer server(path, "", false);
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          path + " closed the connection without a reply");
  }
  SECTION("closed in the middle of a reply") {
    OneShotServer server(path, "{\"ok\":tr", false);
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          path + " closed the connection in the middle of a reply");
  }
  SECTION("a reply over the limit") {
    OneShotServer server(path, std::string(kMaxReply + 1, 'x'), true);
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          "the reply from " + path + " is longer than 1024 bytes");
  }
  SECTION("no reply in time") {
    OneShotServer server(path, "", true);
    CHECK(exchange_admin_request(path, "status\n", 50ms, kMaxReply).error ==
          "no reply from " + path + " within 50 ms");
  }
  SECTION("a path that cannot be a socket address") {
    const std::string long_path = "/" + std::string(120, 'x');
    CHECK(exchange_admin_request(long_path, "status\n", 5s, kMaxReply).error ==
          "cannot connect to " + long_path + ": not a usable Unix socket path");
  }
}
