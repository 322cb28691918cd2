#include "admin/admin_peer_policy.h"

#include <algorithm>

namespace bulkq {
namespace {

template <typename Id>
std::vector<Id> sorted_unique(std::vector<Id> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace

AdminPeerPolicy::AdminPeerPolicy(std::vector<uid_t> uids, std::vector<gid_t> gids)
    : uids_(sorted_unique(std::move(uids))), gids_(sorted_unique(std::move(gids))) {}

bool AdminPeerPolicy::allows(uid_t uid, gid_t gid, std::span<const gid_t> supplementary) const {
  if (std::binary_search(uids_.begin(), uids_.end(), uid)) return true;
  if (std::binary_search(gids_.begin(), gids_.end(), gid)) return true;
  return std::any_of(supplementary.begin(), supplementary.end(), [this](gid_t group) {
    return std::binary_search(gids_.begin(), gids_.end(), group);
  });
}

}  // namespace bulkq
