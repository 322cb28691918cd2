// bulkqd's admin socket server on a real Unix socket in a fresh temporary directory: the status
// round trip through bulkqctl's client, refused peers, malformed and over-long lines, silent
// peers that must not hold up others, the socket's mode, and its removal on stop. Waits are
// bounded polls on sockets; nothing sleeps to synchronise.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/status_reply.h"
#include "ctl/admin_client.h"
#include "ctl/admin_reply.h"
#include "ctl/status_view.h"
#include "milter/admin_answers.h"
#include "milter/admin_server.h"
#include "support/sample_status.h"
#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

using bulkq::testing::TempDir;

constexpr std::size_t kMaxReply = 4 * 1024 * 1024;

// The server's log lines, written on its thread and read by the test.
class LogLines {
 public:
  void add(std::string_view line) {
    const std::lock_guard lock(mutex_);
    lines_.emplace_back(line);
  }
  [[nodiscard]] std::string all() const {
    const std::lock_guard lock(mutex_);
    std::string text;
    for (const std::string& line : lines_)
      text += line + "\n";
    return text;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

AdminPeerPolicy only_this_process_user() {
  return AdminPeerPolicy({::getuid()}, {});
}

// A started server on <temp dir>/admin.sock answering from `board` (or `handler`).
struct TestServer {
  explicit TestServer(AdminPeerPolicy policy, AdminServerOptions options = {},
                      AdminRequestHandler handler = nullptr)
      : path(dir.path() + "/admin.sock") {
    if (!handler) {
      handler = [this](const AdminRequest& request) {
        return answer_admin_request(request, board, nullptr);
      };
    }
    AdminServerOpenResult opened = AdminServer::open(
        path, kAdminSocketMode, ::getuid(), ::getgid(), std::move(policy), std::move(handler),
        [this](std::string_view line) { log.add(line); }, std::move(options));
    REQUIRE(opened.error == "");
    server = std::move(opened.server);
    REQUIRE(server->start() == "");
  }

  TempDir dir;
  std::string path;
  StatusBoard board;
  LogLines log;
  std::unique_ptr<AdminServer> server;
};

int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Everything the server sends until it closes the connection, or until `limit` passes.
std::string read_until_closed(int fd, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string received;
  std::array<char, 65536> buffer{};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;  // closed (or reset after the reply, when bytes were left unread)
    received.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return received;
}

// One raw exchange: `bytes` as they are, then the whole answer.
std::string raw_exchange(const std::string& path, std::string_view bytes) {
  const int fd = connect_to(path);
  send_all(fd, bytes);
  std::string answer = read_until_closed(fd);
  ::close(fd);
  return answer;
}

EngineStatus sample_status() {
  return bulkq::testing::sample_status("");
}

std::string status_error(const std::string& reply) {
  return read_admin_reply_status(reply).error;
}

}  // namespace

TEST_CASE("admin server: status round trip through bulkqctl's client", "[admin][server]") {
  TestServer test(only_this_process_user());
  test.board.publish(sample_status());

  const AdminExchange exchange = exchange_admin_request(test.path, "status\n", 5s, kMaxReply);
  REQUIRE(exchange.error == "");
  CHECK(exchange.reply == status_reply_json(sample_status()));
  const StatusView view = render_status_view(exchange.reply);
  CHECK(view.error == "");
  CHECK(view.text.find("  messages:") != std::string::npos);

  // The board's newer figures in the next answer.
  EngineStatus newer = sample_status();
  newer.messages = 1201;
  test.board.publish(newer);
  CHECK(exchange_admin_request(test.path, "status\r\n", 5s, kMaxReply).reply ==
        status_reply_json(newer));
  CHECK(test.log.all() == "");
}

TEST_CASE("admin server: reload is not available in this version", "[admin][server]") {
  TestServer test(only_this_process_user());
  const AdminExchange exchange = exchange_admin_request(test.path, "reload\n", 5s, kMaxReply);
  REQUIRE(exchange.error == "");
  CHECK(exchange.reply == R"({"ok":false,"error":"reload: not available in this version"})");
}

TEST_CASE("admin server: a peer the policy does not allow is refused and logged",
          "[admin][server]") {
  // The tests run as root: a policy without root (nor anyone) refuses this process.
  TestServer test(AdminPeerPolicy{});
  const AdminExchange exchange = exchange_admin_request(test.path, "status\n", 5s, kMaxReply);
  REQUIRE(exchange.error == "");
  CHECK(exchange.reply == R"({"ok":false,"error":"permission denied"})");
  CHECK(test.log.all() == "admin socket " + test.path + ": permission denied to uid " +
                              std::to_string(::getuid()) + " gid " + std::to_string(::getgid()) +
                              " pid " + std::to_string(::getpid()) + "\n");
  // Refused without being parsed: junk gets the same answer.
  CHECK(raw_exchange(test.path, std::string("\0junk\n", 6)) ==
        "{\"ok\":false,\"error\":\"permission denied\"}\n");
}

TEST_CASE("admin server: groups allow a peer", "[admin][server]") {
  SECTION("by its primary group; the supplementary lookup is not needed") {
    AdminServerOptions options;
    bool asked = false;  // written on the server thread, read after the exchange ends
    std::mutex asked_mutex;
    options.supplementary_groups = [&](uid_t) {
      const std::lock_guard lock(asked_mutex);
      asked = true;
      return std::vector<gid_t>{};
    };
    TestServer test(AdminPeerPolicy({}, {::getgid()}), options);
    CHECK(
        read_admin_reply_status(exchange_admin_request(test.path, "status\n", 5s, kMaxReply).reply)
            .ok);
    const std::lock_guard lock(asked_mutex);
    CHECK_FALSE(asked);
  }
  SECTION("by a supplementary group of its uid") {
    AdminServerOptions options;
    const uid_t me = ::getuid();
    options.supplementary_groups = [me](uid_t uid) {
      return uid == me ? std::vector<gid_t>{27, 4242} : std::vector<gid_t>{};
    };
    TestServer test(AdminPeerPolicy({}, {4242}), options);
    CHECK(
        read_admin_reply_status(exchange_admin_request(test.path, "status\n", 5s, kMaxReply).reply)
            .ok);
    CHECK(test.log.all() == "");
  }
  SECTION("not by groups that are not listed") {
    AdminServerOptions options;
    options.supplementary_groups = [](uid_t) { return std::vector<gid_t>{27}; };
    TestServer test(AdminPeerPolicy({}, {4242}), options);
    CHECK(exchange_admin_request(test.path, "status\n", 5s, kMaxReply).reply ==
          R"({"ok":false,"error":"permission denied"})");
  }
}

TEST_CASE("admin server: malformed lines get an error reply, and the server goes on",
          "[admin][server]") {
  TestServer test(only_this_process_user());
  struct Case {
    std::string bytes;
    std::string error;
  };
  const std::vector<Case> cases = {
      {std::string("sta\0tus\n", 8), "NUL byte in request"},
      {"\n", "empty request"},
      {"status extra\n", "status: unexpected argument \"extra\" (usage: status)"},
      {"\x1b[2J\n", "control character in request"},
      {"\xff\xfe\n",
       "unknown command \"\\xff\\xfe\" (expected status, queues, domain, messages, pause, "
       "resume, flush, dns, release, metrics or reload)"},
      {std::string(kMaxAdminRequestLength + 1, 'a') + "\n", "request longer than 4096 bytes"},
      // Over-long with no newline at all: refused once the limit is passed, not read forever.
      {std::string(3 * kMaxAdminRequestLength, 'a'), "request longer than 4096 bytes"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.bytes.substr(0, 20));
    const std::string answer = raw_exchange(test.path, c.bytes);
    REQUIRE(!answer.empty());
    CHECK(answer.back() == '\n');
    CHECK(answer.find('\n') == answer.size() - 1);
    CHECK(status_error(answer.substr(0, answer.size() - 1)) == c.error);
  }
  // A maximal line is read whole: an unknown command, not "longer than".
  const std::string longest =
      raw_exchange(test.path, std::string(kMaxAdminRequestLength, 'a') + "\n");
  CHECK(status_error(longest.substr(0, longest.size() - 1)).rfind("unknown command \"aaa", 0) == 0);

  // A line ended by the peer's shutdown rather than '\n' is still a request.
  const int fd = connect_to(test.path);
  send_all(fd, "status");
  REQUIRE(::shutdown(fd, SHUT_WR) == 0);
  CHECK(read_until_closed(fd) == status_reply_json(EngineStatus{}) + "\n");
  ::close(fd);

  CHECK(exchange_admin_request(test.path, "status\n", 5s, kMaxReply).reply ==
        status_reply_json(EngineStatus{}));
}

TEST_CASE("admin server: a silent peer does not stop others being answered", "[admin][server]") {
  AdminServerOptions options;
  bool side_by_side = true;
  SECTION("served side by side: answered while the silent one still waits") {
    options.request_timeout = 1000ms;
  }
  SECTION("one connection at a time: answered once the silent one's time is up") {
    options.request_timeout = 200ms;
    options.max_connections = 1;
    side_by_side = false;
  }
  TestServer test(only_this_process_user(), options);
  // Connected first, so accepted first: the listen backlog is first in, first out.
  const int silent = connect_to(test.path);
  const AdminExchange exchange = exchange_admin_request(test.path, "status\n", 5s, kMaxReply);
  CHECK(exchange.error == "");
  CHECK(exchange.reply == status_reply_json(EngineStatus{}));
  pollfd waiting{silent, POLLIN, 0};
  if (side_by_side) CHECK(::poll(&waiting, 1, 0) == 0);

  // The silent peer is told and dropped once its time is up.
  REQUIRE(::poll(&waiting, 1, 5000) == 1);
  CHECK(read_until_closed(silent) == "{\"ok\":false,\"error\":\"no request line within " +
                                         std::string(side_by_side ? "1 s" : "200 ms") + "\"}\n");
  ::close(silent);
  CHECK(test.log.all().find(": no request line from uid " + std::to_string(::getuid())) !=
        std::string::npos);
}

TEST_CASE("admin server: a peer that sends part of a line and stalls is timed out",
          "[admin][server]") {
  AdminServerOptions options;
  options.request_timeout = 100ms;
  TestServer test(only_this_process_user(), options);
  const int fd = connect_to(test.path);
  send_all(fd, "stat");
  CHECK(read_until_closed(fd) == "{\"ok\":false,\"error\":\"no request line within 100 ms\"}\n");
  ::close(fd);
}

TEST_CASE("admin server: a reply larger than the socket buffer is written whole",
          "[admin][server]") {
  const std::string big = R"({"ok":true,"blob":")" + std::string(3 << 20, 'x') + "\"}";
  TestServer test(only_this_process_user(), {}, [&big](const AdminRequest&) { return big; });
  const AdminExchange exchange = exchange_admin_request(test.path, "metrics\n", 5s, kMaxReply);
  REQUIRE(exchange.error == "");
  CHECK(exchange.reply == big);
}

TEST_CASE("admin server: many clients at once", "[admin][server][tsan]") {
  TestServer test(only_this_process_user());
  std::vector<std::thread> clients;
  std::mutex results_mutex;
  int answered = 0;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      for (int k = 0; k < 10; ++k) {
        const AdminExchange exchange = exchange_admin_request(test.path, "status\n", 5s, kMaxReply);
        const std::lock_guard lock(results_mutex);
        if (exchange.ok() && read_admin_reply_status(exchange.reply).ok) ++answered;
      }
    });
  }
  EngineStatus status;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    status.messages = i;
    test.board.publish(status);
  }
  for (std::thread& client : clients)
    client.join();
  CHECK(answered == 80);
}

TEST_CASE("admin server: the socket file", "[admin][server]") {
  TempDir dir;
  const std::string path = dir.path() + "/admin.sock";
  const auto open_server = [&path]() {
    return AdminServer::open(
        path, kAdminSocketMode, ::getuid(), ::getgid(), only_this_process_user(),
        [](const AdminRequest&) { return std::string(R"({"ok":true})"); }, nullptr);
  };

  SECTION("mode 0660, our owner and group; removed by stop()") {
    AdminServerOpenResult opened = open_server();
    REQUIRE(opened.error == "");
    struct stat file {};
    REQUIRE(::lstat(path.c_str(), &file) == 0);
    CHECK(S_ISSOCK(file.st_mode));
    CHECK((file.st_mode & 07777) == 0660);
    CHECK(file.st_uid == ::getuid());
    CHECK(file.st_gid == ::getgid());
    REQUIRE(opened.server->start() == "");
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).reply == R"({"ok":true})");
    opened.server->stop();
    CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).error ==
          "cannot connect to " + path + ": No such file or directory (is bulkqd running?)");
    opened.server->stop();  // idempotent
  }
  SECTION("stop() without start(), and the destructor, remove it too") {
    open_server().server->stop();
    CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
    { const AdminServerOpenResult opened = open_server(); }
    CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
  }
  SECTION("a file that is not a socket is refused and left alone") {
    dir.write("admin.sock", "precious");
    CHECK(open_server().error ==
          "admin socket " + path + ": the path exists and is not a socket; not touching it");
    std::ifstream in(path);
    std::string content;
    std::getline(in, content);
    CHECK(content == "precious");
  }
  SECTION("a stale socket from a killed daemon is replaced") {
    const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    REQUIRE(::bind(stale, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(stale);
    AdminServerOpenResult opened = open_server();
    REQUIRE(opened.error == "");
    REQUIRE(opened.server->start() == "");
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).reply == R"({"ok":true})");
  }
  SECTION("a live socket (another bulkqd) is refused and keeps working") {
    AdminServerOpenResult first = open_server();
    REQUIRE(first.error == "");
    REQUIRE(first.server->start() == "");
    CHECK(open_server().error == "admin socket " + path +
                                     ": another process is listening on it (is bulkqd already "
                                     "running?)");
    CHECK(exchange_admin_request(path, "status\n", 5s, kMaxReply).reply == R"({"ok":true})");
  }
  SECTION("stop() leaves a file that has replaced ours") {
    AdminServerOpenResult opened = open_server();
    REQUIRE(opened.error == "");
    REQUIRE(::unlink(path.c_str()) == 0);
    dir.write("admin.sock", "someone else's");
    opened.server->stop();
    CHECK(std::filesystem::is_regular_file(path));
  }
  SECTION("a path too long for a socket address") {
    const std::string long_path = dir.path() + "/" + std::string(120, 'x');
    CHECK(AdminServer::open(
              long_path, kAdminSocketMode, ::getuid(), ::getgid(), {},
              [](const AdminRequest&) { return std::string(); }, nullptr)
              .error == "admin socket " + long_path +
                            ": not a usable Unix socket path (empty, or longer than 107 bytes)");
  }
  SECTION("a directory that does not exist") {
    const std::string missing = dir.path() + "/no-such-dir/admin.sock";
    CHECK(AdminServer::open(
              missing, kAdminSocketMode, ::getuid(), ::getgid(), {},
              [](const AdminRequest&) { return std::string(); }, nullptr)
              .error == "admin socket " + missing + ": cannot bind: No such file or directory");
  }
}
