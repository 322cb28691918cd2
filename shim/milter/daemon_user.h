// The account bulkqd runs as (daemon.user), and the switch to it.
//
// Main thread, at start-up. Started as root, bulkqd opens what needs root (sockets in /run, the
// journal directory, the log file), hands them to the daemon user, then drop_to() makes the
// process that user for good: supplementary groups, gid, then uid, and a check that root cannot
// be regained. Started as any other user, nothing changes (a test or a manual run).
#pragma once

#include <sys/types.h>

#include <string>

namespace bulkq {

struct DaemonUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
};

struct DaemonUserResult {
  DaemonUser user;    // set when ok()
  std::string error;  // set when !ok(): "daemon.user: unknown user \"x\""
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] DaemonUserResult look_up_daemon_user(const std::string& name);

// Creates `path` (one level; its parent must exist) with `mode` if missing and, when running as
// root, gives the new directory to `user`. An existing directory is given to `user` only when
// `take_existing` (bulkq's own directories, such as the journal's); others are left as they
// are. Empty on success, else the reason.
[[nodiscard]] std::string prepare_directory(const std::string& path, mode_t mode,
                                            const DaemonUser& user, bool take_existing);

// Gives an existing file or directory tree (one level deep) to `user` when running as root.
[[nodiscard]] std::string give_to(const std::string& path, const DaemonUser& user);

// Becomes `user` when running as root; does nothing otherwise. Empty on success.
[[nodiscard]] std::string drop_to(const DaemonUser& user);

}  // namespace bulkq
