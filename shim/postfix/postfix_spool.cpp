#include "postfix/postfix_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <utility>

#include "core/quoted_text.h"
#include "postfix/content_cursor.h"
#include "postfix/done_recipient_marks.h"
#include "postfix/hashed_queue_path.h"
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

PostfixSpool::PostfixSpool(std::string queue_directory)
    : PostfixSpool(std::move(queue_directory), PostfixReleaseSettings{}) {}

PostfixSpool::PostfixSpool(std::string queue_directory, PostfixReleaseSettings release)
    : release_(std::move(release)) {
  while (queue_directory.size() > 1 && queue_directory.back() == '/')
    queue_directory.pop_back();
  queue_directory_ = std::move(queue_directory);
  hold_directory_ = queue_directory_ + "/hold";
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

namespace {

// A held file mapped read-only: the page cache is the only copy. Postfix never rewrites a held
// file in place except qmgr's R→D flip, which qmgr does not do in hold/; an admin's `postsuper
// -d` unlinks it, which leaves the mapping valid.
class MappedHeldMessage final : public HeldMessageReader {
 public:
  ~MappedHeldMessage() override {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  static HeldMessageOpenResult open(const std::string& path, std::string_view queue_id) {
    HeldMessageOpenResult result;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      result.error = "cannot open " + path + ": " + errno_text(errno);
      return result;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        static_cast<std::uint64_t>(st.st_size) > kMaxQueueFileBytes) {
      const int error = errno;
      ::close(fd);
      result.error = path + (S_ISREG(st.st_mode) && st.st_size > 0
                                 ? " is too big or cannot be examined: " + errno_text(error)
                                 : " is not a non-empty regular file");
      return result;
    }
    auto message = std::unique_ptr<MappedHeldMessage>(new MappedHeldMessage());
    message->size_ = static_cast<std::size_t>(st.st_size);
    void* data = ::mmap(nullptr, message->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_error = errno;
    ::close(fd);
    if (data == MAP_FAILED) {
      result.error = "cannot map " + path + ": " + errno_text(map_error);
      return result;
    }
    message->data_ = data;
    (void)::madvise(data, message->size_, MADV_SEQUENTIAL);
    const std::string_view bytes(static_cast<const char*>(data), message->size_);
    PostfixQueueFileResult parsed = parse_queue_file(bytes);
    if (!parsed.ok()) {
      result.error = in_held_file(queue_id, parsed.error);
      return result;
    }
    message->queue_id_ = std::string(queue_id);
    message->fill_envelope(parsed.file);
    message->cursor_.emplace(bytes, parsed.file);
    result.reader = std::move(message);
    return result;
  }

  [[nodiscard]] const HeldSendEnvelope& envelope() const override { return envelope_; }

  [[nodiscard]] ReadStep read(const std::function<void(std::string_view line)>& on_line,
                              std::size_t max_bytes) override {
    if (!error_.empty()) return ReadStep::failed;
    std::size_t passed = 0;
    // At least one line per call, whatever max_bytes says, so a caller always makes progress.
    for (bool first = true; first || passed < max_bytes; first = false) {
      if (!cursor_->next()) {
        if (!cursor_->error().empty()) {
          error_ = in_held_file(queue_id_, cursor_->error());
          return ReadStep::failed;
        }
        return ReadStep::done;
      }
      const HeaderScanner::LineKind kind = scanner_.classify(cursor_->line());
      if (kind == HeaderScanner::LineKind::marker_start ||
          kind == HeaderScanner::LineKind::marker_continued) {
        continue;  // bulkq's own header never reaches a recipient
      }
      on_line(cursor_->line());
      passed += cursor_->line().size() + 2;
    }
    return ReadStep::more;
  }

  [[nodiscard]] const std::string& error() const override { return error_; }

 private:
  MappedHeldMessage() = default;

  void fill_envelope(const PostfixQueueFile& file) {
    envelope_.sender = file.sender;
    envelope_.size = static_cast<std::uint64_t>(std::max<std::int64_t>(0, file.size.content_size));
    envelope_.eight_bit = file.encoding == "8bit";
    envelope_.smtputf8 = file.size.smtputf8_flags != 0;
    envelope_.envelope_id = file.envelope_id;
    envelope_.ret = file.ret_flags == 1 ? 1 : file.ret_flags == 2 ? 2 : 0;
    envelope_.recipients.reserve(file.recipients.size());
    for (const PostfixRecipient& r : file.recipients) {
      HeldSendRecipient out;
      out.address = r.address;
      out.original_address = r.original_address;
      out.done = r.done;
      out.notify_never = (r.notify_flags & dsn_notify::kNever) != 0;
      out.notify_success = (r.notify_flags & dsn_notify::kSuccess) != 0;
      out.notify_failure = (r.notify_flags & dsn_notify::kFailure) != 0;
      out.notify_delay = (r.notify_flags & dsn_notify::kDelay) != 0;
      out.original_recipient = r.dsn_orig_rcpt;
      envelope_.recipients.push_back(std::move(out));
    }
  }

  void* data_ = nullptr;
  std::size_t size_ = 0;
  std::string queue_id_;
  HeldSendEnvelope envelope_;
  std::optional<ContentCursor> cursor_;
  HeaderScanner scanner_;
  std::string error_;
};

}  // namespace

HeldMessageOpenResult PostfixSpool::open_message(std::string_view queue_id) {
  if (!is_valid_queue_id(queue_id)) {
    HeldMessageOpenResult result;
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  return MappedHeldMessage::open(held_path(queue_id), queue_id);
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

namespace {

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

// The whole file through `fd`, at most kMaxQueueFileBytes. Empty on success.
std::string read_all(int fd, std::size_t size, std::string& bytes) {
  bytes.resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_text(errno);
    if (n == 0) return "the file shrank while being read";
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::string sync_directory(const std::string& path) {
  const FileDescriptor dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return "cannot sync directory " + path + ": " + errno_text(errno);
  }
  return {};
}

// Creates the missing levels of `relative` (e.g. "deferred/A/B/") under `base`, mode 0700 as
// Postfix's make_dirs() does. Empty on success.
std::string make_queue_directories(const std::string& base, std::string_view relative) {
  std::string path = base;
  std::size_t start = 0;
  while (start < relative.size()) {
    const std::size_t slash = relative.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? relative.size() : slash;
    path += '/';
    path += relative.substr(start, end - start);
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return "cannot create directory " + path + ": " + errno_text(errno);
    }
    start = end + 1;
  }
  return {};
}

// Postfix's trigger protocol (mail_trigger): a few request bytes written to a service's public
// endpoint, no reply. 'D' = QMGR_REQ_SCAN_DEFERRED (src/global/mail_proto.h).
std::string wake_queue_manager(const std::string& path) {
  constexpr char kScanDeferred = 'D';
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot find " + path + ": " + errno_text(errno);
  int fd = -1;
  if (S_ISFIFO(st.st_mode)) {
    fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  } else if (S_ISSOCK(st.st_mode)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) return path + ": path too long for a socket";
    std::copy(path.begin(), path.end(), address.sun_path);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 &&
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const int error = errno;
      ::close(fd);
      return "cannot connect to " + path + ": " + errno_text(error);
    }
  } else {
    return path + " is neither a socket nor a FIFO";
  }
  if (fd < 0) return "cannot open " + path + ": " + errno_text(errno);
  const FileDescriptor trigger(fd);
  if (::write(trigger.get(), &kScanDeferred, 1) != 1) {
    return "cannot write to " + path + ": " + errno_text(errno);
  }
  return {};
}

}  // namespace

SpoolReleaseResult PostfixSpool::release(std::string_view queue_id,
                                         std::span<const RecipientIndex> finished) {
  SpoolReleaseResult result;
  if (!is_valid_queue_id(queue_id)) {
    result.error = invalid_queue_id(queue_id);
    return result;
  }
  const std::string path = held_path(queue_id);
  const FileDescriptor fd(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    result.gone = error == ENOENT;
    result.error = result.gone ? "hold/" + std::string(queue_id) +
                                     " is gone (removed or released by an administrator)"
                               : "cannot open " + path + ": " + errno_text(error);
    return result;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || classify(st) != FileMode::committed ||
      static_cast<std::uint64_t>(st.st_size) > kMaxQueueFileBytes) {
    result.error = path + " is not a complete held queue file";
    return result;
  }
  std::string bytes;
  if (std::string error = read_all(fd.get(), static_cast<std::size_t>(st.st_size), bytes);
      !error.empty()) {
    result.error = "cannot read " + path + ": " + error;
    return result;
  }
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  if (!parsed.ok()) {
    result.error = in_held_file(queue_id, parsed.error);
    return result;
  }
  const DoneMarksPlan plan = plan_done_marks(bytes, parsed.file, finished);
  if (!plan.ok()) {
    result.error = in_held_file(queue_id, plan.error);
    return result;
  }
  // 1. Finished recipients become `D`, durably, before Postfix can see the file.
  for (const std::size_t at : plan.offsets) {
    const char done = kDoneRecipientType;
    if (::pwrite(fd.get(), &done, 1, static_cast<off_t>(at)) != 1) {
      result.error = "cannot mark recipients done in " + path + ": " + errno_text(errno);
      return result;
    }
  }
  if (!plan.offsets.empty() && ::fsync(fd.get()) != 0) {
    result.error = "cannot sync " + path + ": " + errno_text(errno);
    return result;
  }
  result.marked_done = static_cast<std::uint32_t>(plan.offsets.size());
  result.recipients = plan.still_to_deliver;
  // 2. hold/ID → deferred/<levels>/ID, as postsuper -H. The queue id embeds the file's inode
  // number, so no other live queue file has the same name to be replaced.
  const std::string levels = hashed_queue_directory("deferred", queue_id, release_.hash_queue_names,
                                                    std::max(1, release_.hash_queue_depth));
  const std::string target_directory = queue_directory_ + "/" + levels;
  const std::string target = target_directory + std::string(queue_id);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    int error = errno;
    if (error == ENOENT && ::access(path.c_str(), F_OK) == 0) {
      if (std::string made = make_queue_directories(queue_directory_, levels); !made.empty()) {
        result.error = made;
        return result;
      }
      error = ::rename(path.c_str(), target.c_str()) == 0 ? 0 : errno;
    }
    if (error != 0) {
      result.gone = error == ENOENT;
      result.error = "cannot move " + path + " to " + target + ": " + errno_text(error);
      return result;
    }
  }
  // 3. The move is durable before the caller forgets the message.
  for (const std::string& directory : {target_directory, hold_directory_}) {
    if (std::string synced = sync_directory(directory); !synced.empty()) {
      result.warning = synced;
    }
  }
  // 4. Deliver now rather than at the next deferred-queue scan.
  if (!release_.queue_service.empty()) {
    if (std::string woken =
            wake_queue_manager(queue_directory_ + "/public/" + release_.queue_service);
        !woken.empty()) {
      result.warning = woken + "; Postfix delivers it at its next deferred-queue scan";
    }
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
