// AdminServer: bulkqd's side of the admin socket (the Unix stream socket bulkqctl talks to).
//
// Threads: open(), start() and stop() are called by one thread (bulkqd's main thread). start()
// runs one server thread that owns the listening socket and every connection; the request
// handler and the log callback are called on that thread only, one call at a time. Nothing here
// throws across threads: failures are error values or log lines.
//
// Protocol: one request per connection. The peer sends one line (admin/admin_request.h), the
// server writes one reply line (JSON, '\n'-terminated) and closes. Per connection, in order:
//   1. SO_PEERCRED is checked against the AdminPeerPolicy as soon as the connection is accepted
//      (uid, primary gid, then the supplementary groups of the uid's passwd entry). A refused
//      peer is logged with its uid, gid and pid; its line is read but never parsed, and it gets
//      {"ok":false,"error":"permission denied"}.
//   2. The line is read, at most kMaxAdminRequestLength bytes (plus an optional '\r'), within
//      options.request_timeout from the accept. A line ended by EOF instead of '\n' counts.
//      Too long, or no line in time: an error reply, then close.
//   3. parse_admin_request(); a malformed line gets {"ok":false,"error":"<why>"}.
//   4. handler(request) returns the reply line (no '\n'); it must not throw (an exception would
//      end the program, as on any thread).
//   5. The reply is written within options.request_timeout, then the connection is closed.
// Up to options.max_connections are served at once (non-blocking, one poll() loop); more wait in
// the listen backlog. So a silent or stuck peer costs one slot for at most request_timeout and
// never delays the others.
//
// bulkqd's use (after resolve_admin_access, milter/admin_peer_names.h):
//
//   AdminServerOpenResult opened = AdminServer::open(
//       config.admin.socket, kAdminSocketMode, access.socket_owner, access.socket_group,
//       access.policy,
//       [&board](const AdminRequest& r) { return answer_admin_request(r, board); },
//       [](std::string_view line) { spdlog::warn("{}", line); });
//   if (!opened.ok()) { log opened.error; exit 1; }
//   if (std::string error = opened.server->start(); !error.empty()) { log error; exit 1; }
//   …
//   opened.server->stop();  // at shutdown (the destructor does it too)
//
// open() does not create the socket's directory (bulkqd creates /run/bulkq).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/admin_peer_policy.h"
#include "admin/admin_request.h"

namespace bulkq {

// Owner and group may read and write (connect); nobody else.
inline constexpr mode_t kAdminSocketMode = 0660;

// Returns the reply line for one well-formed request from an allowed peer, without '\n'.
using AdminRequestHandler = std::function<std::string(const AdminRequest&)>;
// One log line, worth a warning: a refused peer, a peer that timed out, a failed accept(). May be
// empty (nothing is logged).
using AdminServerLog = std::function<void(std::string_view)>;

struct AdminServerOptions {
  // For reading the request line (from the accept), and again for writing the reply.
  std::chrono::milliseconds request_timeout{5000};
  // Connections served at once; at least 1.
  std::size_t max_connections = 8;
  // The peer uid's supplementary groups; asked only when the policy lists groups and the uid and
  // primary gid are not enough. Tests replace it.
  std::function<std::vector<gid_t>(uid_t)> supplementary_groups;  // empty: supplementary_groups_of
};

class AdminServer;

struct AdminServerOpenResult {
  std::unique_ptr<AdminServer> server;  // set when ok(): listening, not yet serving
  std::string error;                    // set when !ok(): "admin socket <path>: <why>"
  [[nodiscard]] bool ok() const { return error.empty(); }
};

class AdminServer {
 public:
  // Creates the socket at `path` and listens. A socket file already there is removed if nothing
  // answers on it (a stale one from a killed bulkqd); a live one (another bulkqd) or anything
  // that is not a socket is an error and is left alone. The socket is chown()ed to owner:group
  // and given `mode` before listen(), so no peer can connect while its mode is still wider.
  [[nodiscard]] static AdminServerOpenResult open(const std::string& path, mode_t mode, uid_t owner,
                                                  gid_t group, AdminPeerPolicy policy,
                                                  AdminRequestHandler handler, AdminServerLog log,
                                                  AdminServerOptions options = {});

  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Starts the server thread, which inherits the caller's signal mask (block the signals bulkqd
  // waits for before calling it). Empty on success, else why the thread could not be started.
  // At most once.
  [[nodiscard]] std::string start();

  // Stops the server thread (connections in progress are dropped), closes the socket and removes
  // the socket file if it is still the one open() made. Idempotent; also fine without start().
  void stop();

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  AdminServer(std::string path, int listener, int wakeup, dev_t device, ino_t inode,
              AdminPeerPolicy policy, AdminRequestHandler handler, AdminServerLog log,
              AdminServerOptions options);

  void run();  // the server thread

  std::string path_;
  int listener_ = -1;  // listening socket, non-blocking
  int wakeup_ = -1;    // eventfd: stop() writes, the server thread wakes and returns
  dev_t device_ = 0;   // the socket file open() made, so stop() never removes another's
  ino_t inode_ = 0;
  AdminPeerPolicy policy_;
  AdminRequestHandler handler_;
  AdminServerLog log_;
  AdminServerOptions options_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace bulkq
