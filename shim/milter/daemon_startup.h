// Becoming a daemon, with the start-up's outcome reported to whoever ran bulkqd.
//
// Main thread only, before any other thread exists (fork copies only the caller's thread). The
// classic steps — fork, setsid, fork again so the daemon can never regain a terminal, chdir("/"),
// umask(022), standard streams to /dev/null — plus a pipe back to the launching process: it
// waits until the daemon calls report_started() and exits 0, or exits 1 if the daemon dies
// first, so an init script sees a start-up failure in the exit status.
#pragma once

#include <string>

namespace bulkq {

class DaemonStartup {
 public:
  // Returns only in the daemon (and in the caller when it fails, with error() set, while the
  // standard streams still reach the terminal). The launching process never returns from it.
  [[nodiscard]] static DaemonStartup detach();

  DaemonStartup(DaemonStartup&& other) noexcept;
  DaemonStartup& operator=(DaemonStartup&&) = delete;
  DaemonStartup(const DaemonStartup&) = delete;
  DaemonStartup& operator=(const DaemonStartup&) = delete;
  ~DaemonStartup();  // without report_started(), the launching process exits 1

  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }

  // Tells the launching process that start-up succeeded; it exits 0.
  void report_started();

 private:
  DaemonStartup(int ready_fd, std::string error) : ready_fd_(ready_fd), error_(std::move(error)) {}
  int ready_fd_ = -1;  // write end of the pipe the launching process reads
  std::string error_;
};

}  // namespace bulkq
