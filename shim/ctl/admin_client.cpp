#include "ctl/admin_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace bulkq {
namespace {

std::string system_reason(int error_number) {
  return std::generic_category().message(error_number);
}

AdminExchange failure(std::string error) {
  return {{}, std::move(error)};
}

// Closes the socket on every return path.
class SocketFd {
 public:
  explicit SocketFd(int fd) : fd_(fd) {}
  ~SocketFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

std::string seconds_text(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

AdminExchange exchange_admin_request(const std::string& socket_path, std::string_view request_line,
                                     std::chrono::milliseconds timeout,
                                     std::size_t max_reply_bytes) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    return failure("cannot connect to " + socket_path + ": not a usable Unix socket path");
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  SocketFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return failure("cannot create a socket: " + system_reason(errno));

  // Bounds connect() (a full listen backlog) and send(); poll() below bounds the reply.
  timeval send_timeout{};
  send_timeout.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  send_timeout.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);

  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    const int connect_errno = errno;
    if (connect_errno == EAGAIN) {
      return failure("cannot connect to " + socket_path + ": no answer within " +
                     seconds_text(timeout) + " (is bulkqd overloaded?)");
    }
    std::string error = "cannot connect to " + socket_path + ": " + system_reason(connect_errno);
    if (connect_errno == ENOENT || connect_errno == ECONNREFUSED) error += " (is bulkqd running?)";
    return failure(std::move(error));
  }

  std::size_t sent = 0;
  while (sent < request_line.size()) {
    const ssize_t n =
        ::send(fd.get(), request_line.data() + sent, request_line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return failure("cannot send to " + socket_path + ": timed out after " +
                       seconds_text(timeout));
      }
      return failure("cannot send to " + socket_path + ": " + system_reason(errno));
    }
    sent += static_cast<std::size_t>(n);
  }

  // One deadline for the whole reply: a daemon trickling bytes cannot stretch it.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  std::array<char, 65536> buffer{};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return failure("no reply from " + socket_path + " within " + seconds_text(timeout));
    }
    pollfd waiting{fd.get(), POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return failure("cannot read from " + socket_path + ": " + system_reason(errno));
    if (ready == 0) continue;  // the deadline check above reports it
    const ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure("cannot read from " + socket_path + ": " + system_reason(errno));
    if (n == 0) {
      if (reply.empty()) {
        return failure(socket_path + " closed the connection without a reply");
      }
      return failure(socket_path + " closed the connection in the middle of a reply");
    }
    const std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
    const std::size_t newline = chunk.find('\n');
    reply.append(chunk.substr(0, newline));
    if (reply.size() > max_reply_bytes) {
      return failure("the reply from " + socket_path + " is longer than " +
                     std::to_string(max_reply_bytes) + " bytes");
    }
    if (newline != std::string_view::npos) return {std::move(reply), {}};
  }
}

}  // namespace bulkq
