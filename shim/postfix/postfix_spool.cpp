#include "postfix/postfix_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include "core/quoted_text.h"
#include "postfix/content_cursor.h"
#include "postfix/marker_header.h"
#include "postfix/queue_file_bytes.h"
#include "postfix/queue_file_reader.h"

namespace bulkq {

namespace {

// Postfix marks a finished queue file by setting the owner execute bit: 0700 (MTA-FACTS §1).
constexpr mode_t kCommittedMode = 0700;

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::string invalid_queue_id(std::string_view queue_id) {
  return "invalid queue id " + quoted_text(queue_id, kMaxQueueIdLength + 8, NonAscii::escape);
}

// "hold/ID: " before what is wrong inside a file, as postcat names it.
std::string in_held_file(std::string_view queue_id, std::string_view error) {
  return "hold/" + std::string(queue_id) + ": " + std::string(error);
}

enum class FileMode { committed, incomplete, not_regular };

FileMode classify(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return FileMode::not_regular;
  return (st.st_mode & 07777) == kCommittedMode ? FileMode::committed : FileMode::incomplete;
}

// One held file in memory, parsed. The whole file is read (it is bounded by kMaxQueueFileBytes);
// stream_message goes through this one function so that an mmap or a record-by-record reader can
// replace it without touching the callers.
struct LoadedHeldFile {
  std::string bytes;
  PostfixQueueFile parsed;
  std::string error;  // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

LoadedHeldFile load_held_file(const std::string& path, std::string_view queue_id) {
  LoadedHeldFile loaded;
  QueueFileBytes read = read_queue_file(path);
  if (!read.ok()) {
    loaded.error = std::move(read.error);  // names the path, which ends in hold/ID
    return loaded;
  }
  loaded.bytes = std::move(read.bytes);
  PostfixQueueFileResult parsed = parse_queue_file(loaded.bytes);
  if (!parsed.ok()) {
    loaded.error = in_held_file(queue_id, parsed.error);
    return loaded;
  }
  loaded.parsed = std::move(parsed.file);
  return loaded;
}

class Directory {
 public:
  explicit Directory(const std::string& path) : dir_(::opendir(path.c_str())) {}
  ~Directory() {
    if (dir_ != nullptr) ::closedir(dir_);
  }
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;
  [[nodiscard]] DIR* get() const { return dir_; }

 private:
  DIR* dir_;
};

}  // namespace

bool is_valid_queue_id(std::string_view queue_id) {
  if (queue_id.empty() || queue_id.size() > kMaxQueueIdLength) return false;
  for (const char c : queue_id) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum) return false;
  }
  return true;
}

PostfixSpool::PostfixSpool(std::string queue_directory) {
  while (queue_directory.size() > 1 && queue_directory.back() == '/')
    queue_directory.pop_back();
  hold_directory_ = std::move(queue_directory) + "/hold";
}

std::string PostfixSpool::held_path(std::string_view queue_id) const {
  return hold_directory_ + "/" + std::string(queue_id);
}

HeldFileCheck PostfixSpool::check(std::string_view queue_id) {
  HeldFileCheck result;
  if (!is_valid_queue_id(queue_id)) {
    result.state = HeldFileState::error;
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  const std::string path = held_path(queue_id);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      result.state = HeldFileState::missing;
    } else {
      result.state = HeldFileState::error;
      result.error = "cannot stat " + path + ": " + errno_text(error);
    }
    return result;
  }
  switch (classify(st)) {
    case FileMode::committed:
      result.state = HeldFileState::committed;
      break;
    case FileMode::incomplete:
      result.state = HeldFileState::incomplete;
      break;
    case FileMode::not_regular:
      result.state = HeldFileState::error;
      result.error = path + " is not a regular file";
      break;
  }
  return result;
}

HeldEnvelopeResult PostfixSpool::read_envelope(std::string_view queue_id) {
  HeldEnvelopeResult result;
  if (!is_valid_queue_id(queue_id)) {
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  LoadedHeldFile loaded = load_held_file(held_path(queue_id), queue_id);
  if (!loaded.ok()) {
    result.error = std::move(loaded.error);
    return result;
  }
  PostfixQueueFile& file = loaded.parsed;
  HeldEnvelope& envelope = result.envelope;
  envelope.queue_id = std::string(queue_id);
  envelope.sender = std::move(file.sender);
  envelope.recipients.reserve(file.recipients.size());
  for (PostfixRecipient& r : file.recipients) {
    envelope.recipients.push_back(HeldRecipient{std::move(r.address), r.done});
  }
  envelope.arrival_unix_ms = file.arrival_seconds * 1000 + file.arrival_microseconds / 1000;
  envelope.marker = find_marker(loaded.bytes, file);
  return result;
}

SpoolResult PostfixSpool::stream_message(
    std::string_view queue_id, const std::function<void(std::string_view line)>& on_line) {
  SpoolResult result;
  if (!is_valid_queue_id(queue_id)) {
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  const LoadedHeldFile loaded = load_held_file(held_path(queue_id), queue_id);
  if (!loaded.ok()) {
    result.error = loaded.error;
    return result;
  }
  HeaderScanner scanner;
  ContentCursor cursor(loaded.bytes, loaded.parsed);
  while (cursor.next()) {
    const HeaderScanner::LineKind kind = scanner.classify(cursor.line());
    if (kind == HeaderScanner::LineKind::marker_start ||
        kind == HeaderScanner::LineKind::marker_continued) {
      continue;  // bulkq's own header never reaches a recipient
    }
    on_line(cursor.line());
  }
  // parse_queue_file walked the same records, so this is a file that changed under us, or a bug.
  if (!cursor.error().empty()) result.error = in_held_file(queue_id, cursor.error());
  return result;
}

SpoolResult PostfixSpool::remove(std::string_view queue_id) {
  SpoolResult result;
  if (!is_valid_queue_id(queue_id)) {
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  const std::string path = held_path(queue_id);
  if (::unlink(path.c_str()) != 0) {
    const int error = errno;
    if (error != ENOENT) result.error = "cannot remove " + path + ": " + errno_text(error);
  }
  return result;
}

SpoolResult PostfixSpool::list_held(const std::function<void(std::string_view queue_id)>& visit) {
  SpoolResult result;
  const Directory dir(hold_directory_);
  if (dir.get() == nullptr) {
    const int error = errno;
    result.error = "cannot read directory " + hold_directory_ + ": " + errno_text(error);
    return result;
  }
  const int dir_fd = ::dirfd(dir.get());
  for (;;) {
    errno = 0;
    const struct dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      const int error = errno;
      if (error != 0) {
        result.error = "cannot read directory " + hold_directory_ + ": " + errno_text(error);
      }
      return result;
    }
    const std::string_view name = entry->d_name;
    // Not a queue id: ".", "..", an admin's stray file. (The subdirectories of a hashed hold
    // queue, "0".."F", are valid ids; the regular-file test below skips them.)
    if (!is_valid_queue_id(name)) continue;
    struct stat st {};
    // Gone since readdir (delivered, released) or unreadable: not ours to report here; check()
    // or read_envelope() will say what is wrong if the engine asks about it.
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (classify(st) != FileMode::committed) continue;
    visit(name);
  }
}

}  // namespace bulkq
