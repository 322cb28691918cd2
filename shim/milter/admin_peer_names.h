// Who may use the admin socket and who owns it, resolved from names to numeric ids.
//
// Name-service I/O (getpwnam_r, getgrnam_r, getpwuid_r, getgrouplist: /etc/passwd, or LDAP/SSSD
// through NSS), so it lives here and not in the pure AdminPeerPolicy. Any thread; bulkqd calls
// resolve_admin_access() once on its main thread at start-up (and refuses to start on an error),
// and the admin server's thread calls supplementary_groups_of() for a peer that is not allowed by
// its uid or primary gid.
//
// bulkqd's use:
//
//   AdminAccessResult access = resolve_admin_access(config.admin, config.daemon);
//   if (!access.ok()) { log access.error; exit 1; }
//   … AdminServer::open(config.admin.socket, access.access.socket_owner,
//                       access.access.socket_group, access.access.policy, …)
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "admin/admin_peer_policy.h"
#include "config/config.h"

namespace bulkq {

struct AdminAccess {
  // uid 0 (root, whatever its name), daemon.user, every admin.users entry; every admin.groups
  // entry. admin.socket_group is NOT in it: it only sets the socket file's group, which lets its
  // members connect(); to be answered they must also be listed in admin.users or admin.groups.
  AdminPeerPolicy policy;
  uid_t socket_owner = 0;  // daemon.user's uid
  gid_t socket_group = 0;  // admin.socket_group's gid when set, else daemon.user's primary gid
};

struct AdminAccessResult {
  AdminAccess access;  // meaningful when ok()
  // When !ok(): names the key and the name, e.g.
  //   admin.users: unknown user "bob"
  //   admin.groups: cannot look up group "ops": <system reason>
  std::string error;
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] AdminAccessResult resolve_admin_access(const AdminConfig& admin,
                                                     const DaemonConfig& daemon);

// The groups of `uid`'s passwd entry (getgrouplist over its name and primary group), which is
// what a login session of that user has. Empty when the uid has no passwd entry or the lookup
// fails: a peer then counts by its uid and primary gid alone.
[[nodiscard]] std::vector<gid_t> supplementary_groups_of(uid_t uid);

}  // namespace bulkq
