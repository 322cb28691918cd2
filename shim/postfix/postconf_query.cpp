#include "postfix/postconf_query.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>
#include <utility>

#include "core/quoted_text.h"

namespace bulkq {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kShownOutput = 200;  // bytes of unexpected output quoted in an error

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

// Both ends close-on-exec: the child dup2()s what it needs onto 0, 1 and 2, and the parent's
// other children never inherit them.
bool make_pipe(Pipe& pipe, std::string& error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    error = "cannot create a pipe: " + errno_text(errno);
    return false;
  }
  pipe.read = Fd(fds[0]);
  pipe.write = Fd(fds[1]);
  return true;
}

// The child between fork and execv: async-signal-safe calls only (another thread of the parent
// may have held the malloc lock at fork time). Reports a failure as its errno on `status_fd`.
[[noreturn]] void exec_child(char* const* argv, int stdin_fd, int stdout_fd, int stderr_fd,
                             int status_fd) {
  ::setpgid(0, 0);  // its own process group, so a timeout kills whatever it started too
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // bulkqd blocks its shutdown signals
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &default_action, nullptr);  // bulkqd ignores SIGPIPE; execv would keep it
  const int input = stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY);
  if (input >= 0 && ::dup2(input, STDIN_FILENO) >= 0 && ::dup2(stdout_fd, STDOUT_FILENO) >= 0 &&
      ::dup2(stderr_fd, STDERR_FILENO) >= 0) {
    ::execv(argv[0], argv);
  }
  const int error = errno;
  [[maybe_unused]] const ssize_t ignored = ::write(status_fd, &error, sizeof error);
  ::_exit(127);
}

void kill_group(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // in case setpgid failed
}

// Waits for the child to be reaped; returns false (child not reaped) if the deadline passes.
bool reap(pid_t pid, Clock::time_point deadline, int& status) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return true;
    if (done < 0 && errno != EINTR) return true;  // ECHILD: someone else reaped it; status unknown
    if (Clock::now() >= deadline) return false;
    // Both pipes are at end of file, so the child is exiting: this loop runs once or twice.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void reap_blocking(pid_t pid, int& status) {
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Lines of stderr as one line for an error message.
std::string one_line(std::string_view text) {
  std::string joined;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    if (end > 0) {
      if (!joined.empty()) joined += "; ";
      joined += text.substr(0, end);
    }
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return joined;
}

}  // namespace

std::string describe_command(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& word : argv) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

ProgramRun run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       std::string_view input) {
  ProgramRun run;
  if (argv.empty() || argv[0].empty() || argv[0].front() != '/') {
    run.error = "not an absolute program path";
    return run;
  }
  // Everything the child needs is allocated before fork.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& word : argv)
    args.push_back(const_cast<char*>(word.c_str()));
  args.push_back(nullptr);
  Pipe out, err, status;
  if (!make_pipe(out, run.error) || !make_pipe(err, run.error) || !make_pipe(status, run.error)) {
    return run;
  }

  // The input goes in through an anonymous memory file: no pipe to keep fed while reading the
  // child's output, whatever its size.
  int input_fd = -1;
  if (!input.empty()) {
    input_fd = ::memfd_create("bulkq-input", MFD_CLOEXEC);
    std::size_t written = 0;
    while (input_fd >= 0 && written < input.size()) {
      const ssize_t n = ::write(input_fd, input.data() + written, input.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    if (input_fd < 0 || written != input.size() || ::lseek(input_fd, 0, SEEK_SET) != 0) {
      run.error = "cannot prepare the program's input: " + errno_text(errno);
      if (input_fd >= 0) ::close(input_fd);
      return run;
    }
  }

  const Clock::time_point deadline = Clock::now() + timeout;
  const pid_t pid = ::fork();
  if (pid < 0) {
    run.error = "cannot fork: " + errno_text(errno);
    if (input_fd >= 0) ::close(input_fd);
    return run;
  }
  if (pid == 0) {
    exec_child(args.data(), input_fd, out.write.get(), err.write.get(), status.write.get());
  }
  if (input_fd >= 0) ::close(input_fd);
  ::setpgid(pid, pid);  // as the child does: whichever runs first, the group exists before kill
  out.write.reset();
  err.write.reset();
  status.write.reset();

  // execv closes the status pipe (close-on-exec): end of file means the program is running.
  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(status.read.get(), &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  int wait_status = 0;
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    reap_blocking(pid, wait_status);
    run.error = "cannot execute " + argv[0] + ": " + errno_text(exec_errno);
    return run;
  }

  pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  bool open_out = true, open_err = true;
  char buffer[4096];
  while ((open_out || open_err) && run.error.empty()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      run.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      break;
    }
    fds[0].fd = open_out ? out.read.get() : -1;  // poll ignores negative descriptors
    fds[1].fd = open_err ? err.read.get() : -1;
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 60'000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      run.error = "poll failed: " + errno_text(errno);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // end of file (or an error on a pipe, which ends it as well)
        (i == 0 ? open_out : open_err) = false;
        continue;
      }
      const std::string_view chunk(buffer, static_cast<std::size_t>(n));
      if (i == 0) {
        run.stdout_text += chunk;
        if (run.stdout_text.size() > kMaxProgramStdout) {
          run.error = "more than " + std::to_string(kMaxProgramStdout) + " bytes of output";
        }
      } else if (run.stderr_text.size() < kMaxProgramStderr) {
        run.stderr_text += chunk.substr(0, kMaxProgramStderr - run.stderr_text.size());
      }
    }
  }

  if (!run.error.empty() || !reap(pid, deadline, wait_status)) {
    if (run.error.empty()) run.error = "timed out after " + std::to_string(timeout.count()) + " ms";
    kill_group(pid);
    reap_blocking(pid, wait_status);
    return run;
  }
  if (WIFEXITED(wait_status)) {
    run.exit_status = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    run.signal = WTERMSIG(wait_status);
  }
  return run;
}

std::vector<std::string> split_queue_names(std::string_view value) {
  constexpr std::string_view kSeparators = ", \t\r\n";  // Postfix's CHARS_COMMA_SP
  std::vector<std::string> names;
  while (!value.empty()) {
    const std::size_t start = value.find_first_not_of(kSeparators);
    if (start == std::string_view::npos) break;
    value.remove_prefix(start);
    const std::size_t end = std::min(value.find_first_of(kSeparators), value.size());
    names.emplace_back(value.substr(0, end));
    value.remove_prefix(end);
  }
  return names;
}

PostconfResult parse_postconf_output(std::string_view output, std::string_view command) {
  PostconfResult result;
  const auto unexpected = [&](std::string_view why) {
    result.error = std::string(command) + ": unexpected output " +
                   quoted_text(output, kShownOutput, NonAscii::escape) + ": " + std::string(why);
    return std::move(result);
  };
  std::vector<std::string_view> lines;
  std::string_view rest = output;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    if (end == std::string_view::npos) return unexpected("the last line has no newline");
    lines.push_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  // An unknown parameter is a warning on stderr and no line on stdout: count, don't guess.
  if (lines.size() != 3) {
    return unexpected(std::to_string(lines.size()) +
                      " lines, expected 3 (queue_directory, hash_queue_names, mail_owner)");
  }
  if (lines[0].empty() || lines[0].front() != '/') {
    return unexpected("queue_directory is not an absolute path");
  }
  if (lines[2].empty()) return unexpected("mail_owner is empty");
  result.settings.queue_directory = std::string(lines[0]);
  result.settings.hash_queue_names = split_queue_names(lines[1]);
  result.settings.mail_owner = std::string(lines[2]);
  return result;
}

PostconfResult query_postconf(const std::string& postconf, const std::string& config_directory,
                              std::chrono::milliseconds timeout) {
  const std::vector<std::string> argv = {
      postconf, "-c", config_directory, "-h", "queue_directory", "hash_queue_names", "mail_owner"};
  const std::string command = describe_command(argv);
  const ProgramRun run = run_program(argv, timeout);
  PostconfResult result;
  const std::string diagnostics = one_line(run.stderr_text);
  const std::string shown_diagnostics =
      diagnostics.empty() ? ""
                          : ": " + quoted_text(diagnostics, kMaxProgramStderr, NonAscii::escape);
  if (!run.error.empty()) {
    result.error = command + ": " + run.error + shown_diagnostics;
  } else if (run.signal != 0) {
    result.error = command + ": killed by signal " + std::to_string(run.signal) + shown_diagnostics;
  } else if (run.exit_status != 0) {
    result.error = command + ": exit status " + std::to_string(run.exit_status) + shown_diagnostics;
  } else {
    result = parse_postconf_output(run.stdout_text, command);
    if (!result.ok()) result.error += shown_diagnostics;
    result.warnings = diagnostics;
  }
  return result;
}

std::string check_hold_not_hashed(const std::vector<std::string>& hash_queue_names) {
  if (std::find(hash_queue_names.begin(), hash_queue_names.end(), "hold") ==
      hash_queue_names.end()) {
    return {};
  }
  return "hash_queue_names lists hold: bulkq needs a flat hold queue (remove hold from "
         "hash_queue_names, then run postsuper -s)";
}

}  // namespace bulkq
