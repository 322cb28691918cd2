// query_postconf: the Postfix settings bulkqd needs at start-up, from `postconf -c DIR -h ...`.
//
// bulkqd asks Postfix itself rather than parsing main.cf: postconf knows the defaults, the
// $name expansions and the compiled-in paths. It runs POSTCONF (no shell) with stdin from
// /dev/null, captures stdout (bounded) and stderr (for the error text), and gives up after a
// timeout, killing the child's process group. A failure is an error value naming the command and
// what went wrong (exit status, signal, timeout, postconf's own stderr, unexpected output), never
// an exception.
//
// Main thread, at start-up (it blocks for as long as postconf runs). fork() happens with other
// threads possibly running, so the child does only async-signal-safe calls before execv.
// check_hold_not_hashed() is pure.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace bulkq {

inline constexpr std::chrono::milliseconds kPostconfTimeout = std::chrono::seconds(10);

struct PostfixSettings {
  std::string queue_directory;                // e.g. "/var/spool/postfix"
  std::vector<std::string> hash_queue_names;  // e.g. {"deferred", "defer"}
  std::string mail_owner;                     // e.g. "postfix": the user bulkqd should run as
};

struct PostconfResult {
  PostfixSettings settings;  // set when ok()
  std::string warnings;      // postconf's stderr on success ("warning: open .../master.cf: ...")
  std::string error;         // set when !ok(): "COMMAND: exit status 1: fatal: ..."
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Runs `postconf -c config_directory -h queue_directory hash_queue_names mail_owner`.
[[nodiscard]] PostconfResult query_postconf(const std::string& postconf,
                                            const std::string& config_directory,
                                            std::chrono::milliseconds timeout = kPostconfTimeout);

// Parses postconf -h's three output lines (pure; query_postconf's second half). `command` names
// the command in error texts.
[[nodiscard]] PostconfResult parse_postconf_output(std::string_view output,
                                                   std::string_view command);

// hash_queue_names as Postfix splits it: on commas and whitespace, empty names dropped.
[[nodiscard]] std::vector<std::string> split_queue_names(std::string_view value);

// "" when the hold queue is flat; else the error text for bulkqd to refuse to start with (the
// spool adapter reads hold/ID, not hold/X/ID).
[[nodiscard]] std::string check_hold_not_hashed(const std::vector<std::string>& hash_queue_names);

// A program run to completion, its output captured. Used by query_postconf; kept public for the
// other Postfix tools the shim runs (postsuper) and for tests.
struct ProgramRun {
  std::string stdout_text;
  std::string stderr_text;  // at most kMaxProgramStderr bytes kept; the rest is read and dropped
  int exit_status = -1;     // when it exited; -1 otherwise
  int signal = 0;           // when a signal ended it
  std::string error;        // set when it could not be run, timed out or wrote too much output
  [[nodiscard]] bool exited_zero() const {
    return error.empty() && signal == 0 && exit_status == 0;
  }
};

inline constexpr std::size_t kMaxProgramStdout = 64 * 1024;
inline constexpr std::size_t kMaxProgramStderr = 4 * 1024;

// Runs argv[0] (an absolute path; no PATH search, no shell) with argv, stdin from `input` (from
// /dev/null when empty), for at most `timeout`. More than kMaxProgramStdout bytes of stdout is an
// error (and the child is killed).
[[nodiscard]] ProgramRun run_program(const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout,
                                     std::string_view input = {});

// argv as one line for messages: words joined with spaces.
[[nodiscard]] std::string describe_command(const std::vector<std::string>& argv);

}  // namespace bulkq
