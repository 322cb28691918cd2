// AdminPeerPolicy: a peer is allowed by its uid, its primary gid or one of its supplementary
// gids, and by nothing else.
#include <catch2/catch.hpp>
#include <vector>

#include "admin/admin_peer_policy.h"

using namespace bulkq;

TEST_CASE("admin peer policy: who is allowed", "[admin][policy]") {
  const AdminPeerPolicy policy({0, 102, 1000, 102}, {4000, 4001, 4000});
  CHECK(policy.uids() == std::vector<uid_t>{0, 102, 1000});
  CHECK(policy.gids() == std::vector<gid_t>{4000, 4001});

  struct Case {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> supplementary;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {0, 0, {}, true},                // root
      {102, 105, {}, true},            // the daemon's user
      {1000, 1000, {}, true},          // admin.users
      {1001, 4000, {}, true},          // primary group in admin.groups
      {1001, 1001, {27, 4001}, true},  // a supplementary group in admin.groups
      {1001, 1001, {}, false},         // nothing listed
      {1001, 1001, {27, 100}, false},  // groups, none listed
      {4000, 1001, {}, false},         // a uid equal to a listed gid counts for nothing
      {1001, 1000, {102}, false},      // a gid equal to a listed uid counts for nothing
  };
  for (const Case& c : cases) {
    CAPTURE(c.uid, c.gid, c.supplementary);
    CHECK(policy.allows(c.uid, c.gid, c.supplementary) == c.allowed);
  }
}

TEST_CASE("admin peer policy: an empty policy allows nobody, not even root", "[admin][policy]") {
  const AdminPeerPolicy nobody;
  CHECK_FALSE(nobody.allows(0, 0, std::vector<gid_t>{0}));
  CHECK_FALSE(AdminPeerPolicy({}, {}).allows(1000, 1000, {}));
}
