#include "postfix/sendmail_bounce_sender.h"

#include "postfix/postconf_query.h"

namespace bulkq {

std::string SendmailBounceSender::submit(std::string_view recipient,
                                         const std::vector<std::string>& lines) {
  if (recipient.empty()) return "no recipient (the original sender was <>)";
  if (recipient.front() == '-') return "refusing a recipient that looks like an option";
  std::string input;
  for (const std::string& line : lines) {
    input += line;
    input += '\n';  // sendmail(1) takes local text: LF line endings, no dot-stuffing with -i
  }
  // -C only for another instance: Postfix's sendmail honours it for root alone (or for
  // directories the default main.cf lists in alternate_config_directories).
  std::vector<std::string> argv{sendmail_};
  if (!config_directory_.empty() && config_directory_ != "/etc/postfix") {
    argv.insert(argv.end(), {"-C", config_directory_});
  }
  argv.insert(argv.end(), {"-f", "", "-i", "--", std::string(recipient)});
  const ProgramRun run = run_program(argv, timeout_, input);
  if (run.exited_zero()) return {};
  std::string error = describe_command(argv) + ": ";
  if (!run.error.empty()) {
    error += run.error;
  } else if (run.signal != 0) {
    error += "killed by signal " + std::to_string(run.signal);
  } else {
    error += "exit status " + std::to_string(run.exit_status);
  }
  if (!run.stderr_text.empty()) {
    std::string text = run.stderr_text;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.pop_back();
    for (char& c : text)
      if (c == '\n' || c == '\r') c = ' ';
    error += " (" + text + ")";
  }
  return error;
}

}  // namespace bulkq
