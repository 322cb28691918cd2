// AdminPeerPolicy: which local peers may use the admin socket, by numeric user and group ids.
//
// Pure and immutable once built, so any thread may ask it (bulkqd's admin server thread does, for
// every connection). The ids come from names resolved once at start-up (resolve_admin_access in
// shim/milter/admin_peer_names.h: root, daemon.user, admin.users, admin.groups). A peer is allowed
// when its uid is listed, or its primary gid or one of its supplementary gids is listed. The
// kernel's SO_PEERCRED gives only uid, gid and pid; the caller finds the supplementary groups
// (getgrouplist) and only needs to when allows() without them says no and groups() is non-empty.
#pragma once

#include <sys/types.h>

#include <span>
#include <vector>

namespace bulkq {

class AdminPeerPolicy {
 public:
  AdminPeerPolicy() = default;  // allows nobody
  AdminPeerPolicy(std::vector<uid_t> uids, std::vector<gid_t> gids);

  [[nodiscard]] bool allows(uid_t uid, gid_t gid, std::span<const gid_t> supplementary) const;

  // Sorted, without duplicates.
  [[nodiscard]] const std::vector<uid_t>& uids() const { return uids_; }
  [[nodiscard]] const std::vector<gid_t>& gids() const { return gids_; }

  friend bool operator==(const AdminPeerPolicy&, const AdminPeerPolicy&) = default;

 private:
  std::vector<uid_t> uids_;
  std::vector<gid_t> gids_;
};

}  // namespace bulkq
