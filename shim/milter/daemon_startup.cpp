#include "milter/daemon_startup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace bulkq {
namespace {

std::string system_reason(int error_number) {
  return std::generic_category().message(error_number);
}

// In the launching process: wait for the daemon's word, then leave without running any of the
// daemon's destructors or flushing its buffers twice.
[[noreturn]] void wait_for_daemon(int ready_fd) {
  // Signals bulkqd blocked for its sigwait() loop would make this process deaf to Ctrl-C.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(ready_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) _exit(0);
  static constexpr char kFailed[] = "bulkqd: the daemon stopped during start-up; see its log\n";
  (void)!::write(STDERR_FILENO, kFailed, sizeof kFailed - 1);
  _exit(1);
}

}  // namespace

DaemonStartup DaemonStartup::detach() {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
    return {-1, "cannot create a pipe: " + system_reason(errno)};
  }
  std::fflush(nullptr);  // or buffered output would be written by both processes
  const pid_t child = ::fork();
  if (child < 0) {
    const int fork_errno = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return {-1, "cannot fork: " + system_reason(fork_errno)};
  }
  if (child > 0) {
    ::close(pipe_fds[1]);
    wait_for_daemon(pipe_fds[0]);
  }
  ::close(pipe_fds[0]);
  const int ready_fd = pipe_fds[1];

  // From here on a failure returns to main, which reports it on the still-open stderr and
  // exits; the launching process then sees the pipe close and exits 1 too.
  if (::setsid() < 0) return {ready_fd, "cannot start a new session: " + system_reason(errno)};
  const pid_t daemon = ::fork();
  if (daemon < 0) return {ready_fd, "cannot fork: " + system_reason(errno)};
  if (daemon > 0) _exit(0);  // the session leader leaves; the daemon is not one

  if (::chdir("/") < 0) return {ready_fd, "cannot change directory to /: " + system_reason(errno)};
  ::umask(022);
  const int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd < 0) return {ready_fd, "cannot open /dev/null: " + system_reason(errno)};
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (::dup2(null_fd, fd) < 0)
      return {ready_fd, "cannot redirect to /dev/null: " + system_reason(errno)};
  }
  if (null_fd > STDERR_FILENO) ::close(null_fd);
  return {ready_fd, {}};
}

DaemonStartup::DaemonStartup(DaemonStartup&& other) noexcept
    : ready_fd_(other.ready_fd_), error_(std::move(other.error_)) {
  other.ready_fd_ = -1;
}

DaemonStartup::~DaemonStartup() {
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

void DaemonStartup::report_started() {
  if (ready_fd_ < 0) return;
  const char byte = 1;
  ssize_t n = 0;
  do {
    n = ::write(ready_fd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  ::close(ready_fd_);
  ready_fd_ = -1;
}

}  // namespace bulkq
