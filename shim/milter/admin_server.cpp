#include "milter/admin_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

#include "admin/status_reply.h"
#include "config/config.h"
#include "milter/admin_peer_names.h"

namespace bulkq {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kListenBacklog = 16;
// After accept() fails for lack of descriptors or memory, the listener rests this long rather
// than spinning on a connection it cannot take.
constexpr std::chrono::milliseconds kAcceptPause{100};

std::string system_reason(int error_number) {
  return std::generic_category().message(error_number);
}

std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// Closes the descriptor it holds on every path.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

bool fill_address(const std::string& path, sockaddr_un& address) {
  address = sockaddr_un{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() > kMaxUnixSocketPathLength) return false;
  std::memcpy(address.sun_path, path.data(), path.size());
  return true;
}

AdminServerOpenResult open_failure(const std::string& path, std::string why) {
  AdminServerOpenResult result;
  result.error = "admin socket " + path + ": " + why;
  return result;
}

// What is at the socket path before bind(). Empty when the path is free (or was a stale socket,
// now removed); else why open() must not go on.
std::string clear_stale_socket(const std::string& path, const sockaddr_un& address) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) != 0) {
    if (errno == ENOENT) return {};
    return "cannot check the path: " + system_reason(errno);
  }
  if (!S_ISSOCK(existing.st_mode)) return "the path exists and is not a socket; not touching it";
  // A socket file: stale if nothing accepts on it. Non-blocking, so a live daemon with a full
  // backlog answers EAGAIN at once instead of making us wait.
  const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (probe.get() < 0) return "cannot create a socket: " + system_reason(errno);
  int rc = 0;
  do {
    rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
    return "another process is listening on it (is bulkqd already running?)";
  }
  if (errno != ECONNREFUSED) return "cannot check the existing socket: " + system_reason(errno);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return "cannot remove the stale socket: " + system_reason(errno);
  }
  return {};
}

struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

std::string describe(const PeerCredentials& peer) {
  return "uid " + std::to_string(peer.uid) + " gid " + std::to_string(peer.gid) + " pid " +
         std::to_string(peer.pid);
}

// One accepted connection, from accept to close; owned by the server thread.
struct Connection {
  UniqueFd fd;
  PeerCredentials peer;
  bool allowed = false;
  bool writing = false;  // false: reading the request line; true: writing the reply
  std::string input;     // the request so far (bounded: kMaxAdminRequestLength + 2)
  std::string output;    // the reply line with its '\n'
  std::size_t written = 0;
  Clock::time_point deadline;
  bool done = false;  // to be closed and removed
};

// The longest input kept: a maximal line, an optional '\r' and the '\n'.
constexpr std::size_t kMaxInput = kMaxAdminRequestLength + 2;

}  // namespace

AdminServer::AdminServer(std::string path, int listener, int wakeup, dev_t device, ino_t inode,
                         AdminPeerPolicy policy, AdminRequestHandler handler, AdminServerLog log,
                         AdminServerOptions options)
    : path_(std::move(path)),
      listener_(listener),
      wakeup_(wakeup),
      device_(device),
      inode_(inode),
      policy_(std::move(policy)),
      handler_(std::move(handler)),
      log_(std::move(log)),
      options_(std::move(options)) {
  if (!options_.supplementary_groups) options_.supplementary_groups = supplementary_groups_of;
  if (!log_) log_ = [](std::string_view) {};
  options_.max_connections = std::max<std::size_t>(options_.max_connections, 1);
}

AdminServerOpenResult AdminServer::open(const std::string& path, mode_t mode, uid_t owner,
                                        gid_t group, AdminPeerPolicy policy,
                                        AdminRequestHandler handler, AdminServerLog log,
                                        AdminServerOptions options) {
  sockaddr_un address{};
  if (!fill_address(path, address)) {
    return open_failure(path, "not a usable Unix socket path (empty, or longer than " +
                                  std::to_string(kMaxUnixSocketPathLength) + " bytes)");
  }
  if (!handler) return open_failure(path, "no request handler");
  if (std::string problem = clear_stale_socket(path, address); !problem.empty()) {
    return open_failure(path, std::move(problem));
  }

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (listener.get() < 0)
    return open_failure(path, "cannot create a socket: " + system_reason(errno));
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return open_failure(path, "cannot bind: " + system_reason(errno));
  }
  // From here on a failure removes the file bind() made.
  const auto fail_after_bind = [&](std::string why) {
    ::unlink(path.c_str());
    return open_failure(path, std::move(why));
  };
  if (::chown(path.c_str(), owner, group) != 0) {
    return fail_after_bind("cannot give it to uid " + std::to_string(owner) + " gid " +
                           std::to_string(group) + ": " + system_reason(errno));
  }
  if (::chmod(path.c_str(), mode) != 0) {
    return fail_after_bind("cannot set its mode: " + system_reason(errno));
  }
  struct stat made {};
  if (::lstat(path.c_str(), &made) != 0) {
    return fail_after_bind("cannot stat it: " + system_reason(errno));
  }
  if (::listen(listener.get(), kListenBacklog) != 0) {
    return fail_after_bind("cannot listen: " + system_reason(errno));
  }
  UniqueFd wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wakeup.get() < 0) return fail_after_bind("cannot create an eventfd: " + system_reason(errno));

  AdminServerOpenResult result;
  result.server.reset(new AdminServer(path, listener.release(), wakeup.release(), made.st_dev,
                                      made.st_ino, std::move(policy), std::move(handler),
                                      std::move(log), std::move(options)));
  return result;
}

AdminServer::~AdminServer() {
  stop();
}

std::string AdminServer::start() {
  if (stopped_) return "admin socket " + path_ + ": already stopped";
  if (thread_.joinable()) return "admin socket " + path_ + ": already started";
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return "admin socket " + path_ + ": cannot start its thread: " + e.what();
  }
  return {};
}

void AdminServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    // An eventfd write of 1 cannot fail short of overflow, which one write cannot reach.
    (void)!::write(wakeup_, &one, sizeof one);
    thread_.join();
  }
  ::close(listener_);
  ::close(wakeup_);
  listener_ = -1;
  wakeup_ = -1;
  // Only our own file: a second bulkqd may have replaced a socket we no longer listen on.
  struct stat now {};
  if (::lstat(path_.c_str(), &now) == 0 && now.st_dev == device_ && now.st_ino == inode_) {
    ::unlink(path_.c_str());
  }
}

void AdminServer::run() {
  const std::chrono::milliseconds timeout = options_.request_timeout;
  std::vector<Connection> connections;
  std::vector<pollfd> fds;
  Clock::time_point accept_paused_until{};

  // Queues the reply; the caller writes at once what the socket buffer takes (most replies fit).
  const auto reply = [&](Connection& c, std::string line, Clock::time_point now) {
    c.output = std::move(line);
    c.output += '\n';
    c.written = 0;
    c.writing = true;
    c.deadline = now + timeout;
  };

  // A complete request line (without '\n') from `c`.
  const auto answer = [&](Connection& c, std::string_view line, Clock::time_point now) {
    if (!c.allowed) {
      // Never parsed: nothing from a refused peer reaches the parser or the handler.
      reply(c, error_reply_json("permission denied"), now);
      return;
    }
    const AdminRequestResult parsed = parse_admin_request(line);
    reply(c, parsed.ok() ? handler_(parsed.request) : error_reply_json(parsed.error), now);
  };

  const auto read_some = [&](Connection& c, Clock::time_point now) {
    std::array<char, 4096> buffer{};
    for (;;) {
      const std::size_t room = std::min(buffer.size(), kMaxInput - c.input.size());
      const ssize_t n = ::recv(c.fd.get(), buffer.data(), room, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {  // ECONNRESET and the like: the peer is gone
        c.done = true;
        return;
      }
      if (n == 0) {
        // The peer shut down its side: what it sent is the request; nothing sent, nothing to do.
        if (c.input.empty()) {
          c.done = true;
        } else {
          answer(c, c.input, now);
        }
        return;
      }
      const std::size_t old_size = c.input.size();
      c.input.append(buffer.data(), static_cast<std::size_t>(n));
      const std::size_t newline = c.input.find('\n', old_size);
      if (newline != std::string::npos) {
        answer(c, std::string_view(c.input).substr(0, newline), now);
        return;
      }
      if (c.input.size() >= kMaxInput) {
        reply(c,
              error_reply_json(!c.allowed ? "permission denied"
                                          : "request longer than " +
                                                std::to_string(kMaxAdminRequestLength) + " bytes"),
              now);
        return;
      }
    }
  };

  const auto write_some = [&](Connection& c) {
    while (c.written < c.output.size()) {
      const ssize_t n = ::send(c.fd.get(), c.output.data() + c.written, c.output.size() - c.written,
                               MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {  // EPIPE: the peer left without its reply
        c.done = true;
        return;
      }
      c.written += static_cast<std::size_t>(n);
    }
    c.done = true;
  };

  const auto accept_some = [&](Clock::time_point now) {
    while (connections.size() < options_.max_connections) {
      UniqueFd fd(::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (fd.get() < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) return;
        if (error == EINTR || error == ECONNABORTED) continue;
        log_("admin socket " + path_ + ": accept failed: " + system_reason(error));
        accept_paused_until = now + kAcceptPause;
        return;
      }
      ucred credentials{};
      socklen_t length = sizeof credentials;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
        log_("admin socket " + path_ +
             ": cannot read a peer's credentials: " + system_reason(errno));
        continue;  // closes it
      }
      Connection c;
      c.fd = std::move(fd);
      c.peer = {credentials.uid, credentials.gid, credentials.pid};
      c.allowed = policy_.allows(c.peer.uid, c.peer.gid, {});
      // The passwd lookup only when it can change the answer.
      if (!c.allowed && !policy_.gids().empty()) {
        const std::vector<gid_t> groups = options_.supplementary_groups(c.peer.uid);
        c.allowed = policy_.allows(c.peer.uid, c.peer.gid, groups);
      }
      if (!c.allowed) {
        log_("admin socket " + path_ + ": permission denied to " + describe(c.peer));
      }
      c.deadline = now + timeout;
      connections.push_back(std::move(c));
    }
  };

  for (;;) {
    Clock::time_point now = Clock::now();
    const bool accepting =
        connections.size() < options_.max_connections && now >= accept_paused_until;
    fds.clear();
    fds.push_back({wakeup_, POLLIN, 0});
    fds.push_back({accepting ? listener_ : -1, POLLIN, 0});  // poll() skips a negative fd
    std::optional<Clock::time_point> earliest;
    if (now < accept_paused_until) earliest = accept_paused_until;
    for (const Connection& c : connections) {
      fds.push_back({c.fd.get(), static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
      if (!earliest || c.deadline < *earliest) earliest = c.deadline;
    }
    int wait_ms = -1;
    if (earliest) {
      // Rounded up, so the loop does not wake just before a deadline and spin.
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*earliest - now);
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60000));
    }
    const int ready = ::poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      log_("admin socket " + path_ + ": poll failed: " + system_reason(errno) +
           "; the admin socket stops answering");
      return;
    }
    if (fds[0].revents != 0) return;  // stop()

    now = Clock::now();
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      const short events = fds[i + 2].revents;
      if (events != 0) {
        if (c.writing) {
          write_some(c);
        } else {
          read_some(c, now);
          if (c.writing) write_some(c);
        }
      }
      if (!c.done && now >= c.deadline) {
        if (c.writing) {
          log_("admin socket " + path_ + ": " + describe(c.peer) +
               " did not take its reply within " + duration_text(timeout));
        } else {
          log_("admin socket " + path_ + ": no request line from " + describe(c.peer) + " within " +
               duration_text(timeout));
          // Best effort, not waited for: the peer is probably not listening.
          const std::string line =
              error_reply_json(c.allowed ? "no request line within " + duration_text(timeout)
                                         : std::string("permission denied")) +
              "\n";
          (void)!::send(c.fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        c.done = true;
      }
    }
    std::erase_if(connections, [](const Connection& c) { return c.done; });
    if (accepting && (fds[1].revents & POLLIN) != 0) accept_some(now);
  }
}

}  // namespace bulkq
