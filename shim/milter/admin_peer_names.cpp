#include "milter/admin_peer_names.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <system_error>

namespace bulkq {
namespace {

// Buffers for the *_r lookups start at the size the system suggests and double on ERANGE, up to
// this: a group with a very long member list needs more than the default, but not without bound.
constexpr std::size_t kMaxLookupBuffer = 1 << 20;

std::size_t initial_buffer(int sysconf_name) {
  const long suggested = ::sysconf(sysconf_name);
  return suggested > 0 ? static_cast<std::size_t>(suggested) : 1024;
}

struct UserEntry {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// NSS modules differ in how they say "no such entry": 0, ENOENT, ESRCH, EBADF or EPERM.
bool means_not_found(int rc) {
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

// `lookup(entry, buffer, size, found)` is getpwnam_r or getpwuid_r with the key bound. nullopt
// with `error` empty: no such user; nullopt with `error` set: the lookup failed.
template <typename Lookup>
std::optional<UserEntry> find_user(Lookup lookup, std::string& error) {
  std::vector<char> buffer(initial_buffer(_SC_GETPW_R_SIZE_MAX));
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = lookup(&entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (found == nullptr) {
      if (!means_not_found(rc)) error = std::generic_category().message(rc);
      return std::nullopt;
    }
    return UserEntry{entry.pw_uid, entry.pw_gid, entry.pw_name};
  }
}

std::optional<UserEntry> find_user_named(const std::string& name, std::string& error) {
  return find_user(
      [&](passwd* entry, char* buffer, std::size_t size, passwd** found) {
        return ::getpwnam_r(name.c_str(), entry, buffer, size, found);
      },
      error);
}

std::optional<UserEntry> find_user_with_uid(uid_t uid, std::string& error) {
  return find_user([&](passwd* entry, char* buffer, std::size_t size,
                       passwd** found) { return ::getpwuid_r(uid, entry, buffer, size, found); },
                   error);
}

std::optional<gid_t> find_group(const std::string& name, std::string& error) {
  std::vector<char> buffer(initial_buffer(_SC_GETGR_R_SIZE_MAX));
  for (;;) {
    group entry{};
    group* found = nullptr;
    const int rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (found == nullptr) {
      if (!means_not_found(rc)) error = std::generic_category().message(rc);
      return std::nullopt;
    }
    return entry.gr_gid;
  }
}

AdminAccessResult failure(std::string error) {
  AdminAccessResult result;
  result.error = std::move(error);
  return result;
}

std::string lookup_error(std::string_view key, std::string_view kind, const std::string& name,
                         const std::string& reason) {
  std::string text(key);
  text += ": ";
  if (reason.empty()) {
    text.append("unknown ").append(kind).append(" \"").append(name).append("\"");
  } else {
    text.append("cannot look up ").append(kind).append(" \"").append(name).append("\": ");
    text += reason;
  }
  return text;
}

}  // namespace

AdminAccessResult resolve_admin_access(const AdminConfig& admin, const DaemonConfig& daemon) {
  std::vector<uid_t> uids;
  std::vector<gid_t> gids;
  // Root by uid, not by the name "root": uid 0 is the superuser whatever /etc/passwd calls it.
  uids.push_back(0);

  std::string error;
  const std::optional<UserEntry> daemon_user = find_user_named(daemon.user, error);
  if (!daemon_user) return failure(lookup_error("daemon.user", "user", daemon.user, error));
  uids.push_back(daemon_user->uid);

  for (const std::string& name : admin.users) {
    const std::optional<UserEntry> user = find_user_named(name, error);
    if (!user) return failure(lookup_error("admin.users", "user", name, error));
    uids.push_back(user->uid);
  }
  for (const std::string& name : admin.groups) {
    const std::optional<gid_t> group = find_group(name, error);
    if (!group) return failure(lookup_error("admin.groups", "group", name, error));
    gids.push_back(*group);
  }

  AdminAccessResult result;
  result.access.socket_owner = daemon_user->uid;
  result.access.socket_group = daemon_user->gid;
  if (!admin.socket_group.empty()) {
    const std::optional<gid_t> group = find_group(admin.socket_group, error);
    if (!group) {
      return failure(lookup_error("admin.socket_group", "group", admin.socket_group, error));
    }
    result.access.socket_group = *group;
  }
  result.access.policy = AdminPeerPolicy(std::move(uids), std::move(gids));
  return result;
}

std::vector<gid_t> supplementary_groups_of(uid_t uid) {
  std::string error;
  const std::optional<UserEntry> user = find_user_with_uid(uid, error);
  if (!user) return {};
  // getgrouplist says how many it needs when the first guess is short.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(user->name.c_str(), user->gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<std::size_t>(count));
      return groups;
    }
    if (count <= static_cast<int>(groups.size()) || count > 65536) return {};
    groups.resize(static_cast<std::size_t>(count));
  }
  return {};
}

}  // namespace bulkq
