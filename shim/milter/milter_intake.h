// MilterIntake: libmilter's callbacks, gathering what the bulk rules need and, at end-of-message,
// diverting bulk mail (marker header + quarantine) through the IntakeGate.
//
// Threads: libmilter runs smfi_main() on the thread that calls run() and one thread per MTA
// connection for the callbacks. The callbacks keep their per-connection state in libmilter's
// private pointer, touch the engine only through IntakeGate::submit (lock-free) and never wait on
// the scheduler. No exception leaves a callback: any failure lets the message through (fail
// open). The body is never requested (SMFIP_NOBODY), so it is never copied.
//
// libmilter keeps one filter per process and calls plain C functions, so the instance the
// callbacks use is process-wide: open() installs it, and there can be only one.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"
#include "intake/intake_gate.h"

namespace bulkq {

using MilterLog = std::function<void(LogLevel, std::string_view)>;

class MilterIntake {
 public:
  MilterIntake(IntakeGate& gate, IntakeSignals& signals, const Clock& clock, MilterLog log);
  ~MilterIntake();
  MilterIntake(const MilterIntake&) = delete;
  MilterIntake& operator=(const MilterIntake&) = delete;

  // Main thread, before privileges are dropped: registers the filter and creates the socket
  // ("unix:/path"), owned by `owner`:`group`, mode 0660 (Postfix connects as its mail_owner).
  // Returns an error text, empty on success.
  [[nodiscard]] std::string open(const std::string& socket_spec, uid_t owner, gid_t group);

  // Serves the milter protocol until stop(); returns libmilter's status (MI_SUCCESS = 0).
  int run();
  // Main thread: stops accepting connections and returns once libmilter's listener has let go
  // of its socket; run() then returns. Connections already open finish on their own threads.
  void stop();

  // The callbacks' view (public for the C trampolines in the .cpp).
  IntakeGate& gate() { return gate_; }
  IntakeSignals& signals() { return signals_; }
  const Clock& clock() const { return clock_; }
  void log(LogLevel level, std::string_view text) const {
    if (log_) log_(level, text);
  }

  // Before run(): the text after "451 4.7.1 " for bulk mail tempfailed past a volume limit.
  void set_quota_reply(std::string text) { quota_reply_ = std::move(text); }
  [[nodiscard]] const std::string& quota_reply() const { return quota_reply_; }

 private:
  IntakeGate& gate_;
  IntakeSignals& signals_;
  const Clock& clock_;
  MilterLog log_;
  std::string socket_path_;  // set by open()
  std::string quota_reply_ = "bulk mail volume quota reached, try again later";
};

}  // namespace bulkq
