#include "milter/daemon_user.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace bulkq {
namespace {

std::string reason(int error_number) {
  return std::generic_category().message(error_number);
}

}  // namespace

DaemonUserResult look_up_daemon_user(const std::string& name) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int error = 0;
  while ((error = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
         ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (error != 0)
    return {{}, "daemon.user: cannot look up user \"" + name + "\": " + reason(error)};
  if (found == nullptr) return {{}, "daemon.user: unknown user \"" + name + "\""};
  return {{name, entry.pw_uid, entry.pw_gid}, {}};
}

std::string prepare_directory(const std::string& path, mode_t mode, const DaemonUser& user,
                              bool take_existing) {
  bool created = true;
  if (::mkdir(path.c_str(), mode) != 0) {
    if (errno != EEXIST) return "cannot create directory " + path + ": " + reason(errno);
    created = false;
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "cannot stat " + path + ": " + reason(errno);
  if (!S_ISDIR(info.st_mode)) return path + " is not a directory";
  if ((created || take_existing) && ::geteuid() == 0 &&
      (info.st_uid != user.uid || info.st_gid != user.gid) &&
      ::chown(path.c_str(), user.uid, user.gid) != 0) {
    return "cannot give " + path + " to " + user.name + ": " + reason(errno);
  }
  return {};
}

std::string give_to(const std::string& path, const DaemonUser& user) {
  if (::geteuid() != 0) return {};
  if (::lchown(path.c_str(), user.uid, user.gid) != 0) {
    return "cannot give " + path + " to " + user.name + ": " + reason(errno);
  }
  DIR* directory = ::opendir(path.c_str());
  if (directory == nullptr) return errno == ENOTDIR ? std::string() : "cannot read " + path;
  std::string error;
  while (dirent* entry = ::readdir(directory)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string child = path + "/" + name;
    if (::lchown(child.c_str(), user.uid, user.gid) != 0 && error.empty()) {
      error = "cannot give " + child + " to " + user.name + ": " + reason(errno);
    }
  }
  ::closedir(directory);
  return error;
}

std::string drop_to(const DaemonUser& user) {
  if (::geteuid() != 0) return {};
  if (::initgroups(user.name.c_str(), user.gid) != 0) {
    return "cannot set the groups of " + user.name + ": " + reason(errno);
  }
  if (::setgid(user.gid) != 0)
    return "cannot set gid " + std::to_string(user.gid) + ": " + reason(errno);
  if (::setuid(user.uid) != 0)
    return "cannot set uid " + std::to_string(user.uid) + ": " + reason(errno);
  if (user.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    return "root privileges could be regained after switching to " + user.name;
  }
  return {};
}

}  // namespace bulkq
