// Resolving admin.users, admin.groups, admin.socket_group and daemon.user to ids, against the
// machine's own passwd and group files: root exists everywhere; made-up names exist nowhere.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "milter/admin_peer_names.h"

using namespace bulkq;

namespace {
constexpr const char* kNoSuchName = "bulkq-test-no-such-name";
}

TEST_CASE("admin access: names resolved to ids", "[admin][policy]") {
  AdminConfig admin;
  DaemonConfig daemon;
  daemon.user = "root";

  SECTION("root and the daemon user only, the socket in the daemon user's primary group") {
    const AdminAccessResult result = resolve_admin_access(admin, daemon);
    REQUIRE(result.error == "");
    CHECK(result.access.policy.uids() == std::vector<uid_t>{0});
    CHECK(result.access.policy.gids().empty());
    CHECK(result.access.socket_owner == 0);
    CHECK(result.access.socket_group == 0);
  }
  SECTION("users, groups and a socket group") {
    admin.users = {"root"};
    admin.groups = {"root"};
    admin.socket_group = "root";
    const AdminAccessResult result = resolve_admin_access(admin, daemon);
    REQUIRE(result.error == "");
    CHECK(result.access.policy.uids() == std::vector<uid_t>{0});
    CHECK(result.access.policy.gids() == std::vector<gid_t>{0});
    CHECK(result.access.socket_group == 0);
  }
}

TEST_CASE("admin access: an unknown name is an error naming the key", "[admin][policy]") {
  AdminConfig admin;
  DaemonConfig daemon;
  daemon.user = "root";
  std::string expected;
  SECTION("daemon.user") {
    daemon.user = kNoSuchName;
    expected = "daemon.user: unknown user \"bulkq-test-no-such-name\"";
  }
  SECTION("admin.users") {
    admin.users = {"root", kNoSuchName};
    expected = "admin.users: unknown user \"bulkq-test-no-such-name\"";
  }
  SECTION("admin.groups") {
    admin.groups = {kNoSuchName};
    expected = "admin.groups: unknown group \"bulkq-test-no-such-name\"";
  }
  SECTION("admin.socket_group") {
    admin.socket_group = kNoSuchName;
    expected = "admin.socket_group: unknown group \"bulkq-test-no-such-name\"";
  }
  CHECK(resolve_admin_access(admin, daemon).error == expected);
}

TEST_CASE("admin access: a uid's supplementary groups", "[admin][policy]") {
  const std::vector<gid_t> root_groups = supplementary_groups_of(0);
  CHECK(std::find(root_groups.begin(), root_groups.end(), gid_t{0}) != root_groups.end());
  // A uid without a passwd entry has no groups to add.
  CHECK(supplementary_groups_of(static_cast<uid_t>(4294967000U)).empty());
}
