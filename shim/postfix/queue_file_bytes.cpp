#include "postfix/queue_file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace bulkq {

namespace {

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::string too_big(const std::string& path, std::size_t max_bytes) {
  return path + " is larger than the limit of " + std::to_string(max_bytes) +
         " bytes for a queue file";
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

QueueFileBytes read_queue_file(const std::string& path, std::size_t max_bytes) {
  QueueFileBytes result;
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    result.error = "cannot open " + path + ": " + errno_text(errno);
    return result;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    result.error = "cannot stat " + path + ": " + errno_text(errno);
    return result;
  }
  if (!S_ISREG(st.st_mode)) {
    result.error = path + " is not a regular file";
    return result;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    result.error = too_big(path, max_bytes);
    return result;
  }
  // The size is a hint: read to end of file, in case the file changed since fstat.
  result.bytes.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t filled = 0;
  for (;;) {
    if (filled == result.bytes.size()) {
      if (filled > max_bytes) {
        result.bytes.clear();
        result.error = too_big(path, max_bytes);
        return result;
      }
      result.bytes.resize(std::min(max_bytes + 1, filled * 2 + 4096));
    }
    const ssize_t got =
        ::read(fd.get(), result.bytes.data() + filled, result.bytes.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      result.bytes.clear();
      result.error = "cannot read " + path + ": " + errno_text(errno);
      return result;
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  if (filled > max_bytes) {
    result.bytes.clear();
    result.error = too_big(path, max_bytes);
    return result;
  }
  result.bytes.resize(filled);
  return result;
}

}  // namespace bulkq
