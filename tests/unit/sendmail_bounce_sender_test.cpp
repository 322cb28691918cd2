// SendmailBounceSender with a shell script standing in for sendmail(1): it saves its argv and
// stdin to files, and can fail the way Postfix's sendmail does.
#include "postfix/sendmail_bounce_sender.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "support/held_samples.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::slurp;
using bulkq::testing::TempDir;

namespace {

// An executable script in `dir` that saves argv (NUL-separated, $0 first) to DIR/argv and its
// stdin to DIR/stdin, then runs `tail` (the exit).
std::string fake_sendmail(const TempDir& dir, const std::string& tail = "exit 0\n") {
  const std::string path = dir.write("sendmail",
                                     "#!/bin/sh\n"
                                     "printf '%s\\0' \"$0\" \"$@\" > '" +
                                         dir.path() +
                                         "/argv'\n"
                                         "cat > '" +
                                         dir.path() + "/stdin'\n" + tail);
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
  return path;
}

std::vector<std::string> saved_argv(const TempDir& dir) {
  const std::string bytes = slurp(dir.path() + "/argv");
  std::vector<std::string> argv;
  std::string word;
  for (char c : bytes) {
    if (c == '\0') {
      argv.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  REQUIRE(word.empty());
  return argv;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

const std::vector<std::string> kDsn{"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)",
                                    "Subject: Undelivered Mail Returned to Sender",
                                    "",
                                    ".a line with a leading dot",
                                    "",
                                    "last"};

}  // namespace

TEST_CASE("sendmail bounce sender: argv and stdin", "[postfix][bounce]") {
  const TempDir dir;
  const std::string path = fake_sendmail(dir);
  SendmailBounceSender sender(path, "/etc/postfix-bulk", std::chrono::seconds(20));
  const std::string error = sender.submit("sender@example.org", kDsn);
  REQUIRE(error == "");
  CHECK(saved_argv(dir) == std::vector<std::string>{path, "-C", "/etc/postfix-bulk", "-f", "", "-i",
                                                    "--", "sender@example.org"});
  CHECK(slurp(dir.path() + "/stdin") ==
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "\n"
        ".a line with a leading dot\n"
        "\n"
        "last\n");
}

TEST_CASE("sendmail bounce sender: no -C for the default configuration directory",
          "[postfix][bounce]") {
  const std::string config_directory = GENERATE(std::string("/etc/postfix"), std::string());
  const TempDir dir;
  const std::string path = fake_sendmail(dir);
  SendmailBounceSender sender(path, config_directory, std::chrono::seconds(20));
  REQUIRE(sender.submit("a@example.org", {"Subject: x", "", "y"}) == "");
  CHECK(saved_argv(dir) == std::vector<std::string>{path, "-f", "", "-i", "--", "a@example.org"});
  CHECK(slurp(dir.path() + "/stdin") == "Subject: x\n\ny\n");
}

TEST_CASE("sendmail bounce sender: a failing sendmail is an error with its status and stderr",
          "[postfix][bounce]") {
  const TempDir dir;
  const std::string path =
      fake_sendmail(dir, "echo 'sendmail: fatal: queue file write error' >&2\nexit 75\n");
  SendmailBounceSender sender(path, "/etc/postfix-bulk", std::chrono::seconds(20));
  const std::string error = sender.submit("sender@example.org", kDsn);
  CHECK_FALSE(error.empty());
  CHECK_THAT(error, Catch::StartsWith(path));
  CHECK_THAT(error, Catch::Contains("exit status 75"));
  CHECK_THAT(error, Catch::EndsWith("(sendmail: fatal: queue file write error)"));
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("sendmail bounce sender: killed by a signal", "[postfix][bounce]") {
  const TempDir dir;
  const std::string path = fake_sendmail(dir, "kill -9 $$\n");
  SendmailBounceSender sender(path, "", std::chrono::seconds(20));
  const std::string error = sender.submit("sender@example.org", kDsn);
  CHECK_THAT(error, Catch::Contains("killed by signal 9"));
}

TEST_CASE("sendmail bounce sender: a missing program is an error", "[postfix][bounce]") {
  const TempDir dir;
  SendmailBounceSender sender(dir.path() + "/no-such-sendmail", "", std::chrono::seconds(20));
  CHECK_FALSE(sender.submit("sender@example.org", kDsn).empty());
}

TEST_CASE("sendmail bounce sender: recipients it refuses without running sendmail",
          "[postfix][bounce]") {
  const TempDir dir;
  const std::string path = fake_sendmail(dir);
  SendmailBounceSender sender(path, "", std::chrono::seconds(20));
  CHECK(sender.submit("-oi@example.org", kDsn) == "refusing a recipient that looks like an option");
  CHECK(sender.submit("-bv", kDsn) == "refusing a recipient that looks like an option");
  CHECK(sender.submit("", kDsn) == "no recipient (the original sender was <>)");
  CHECK_FALSE(exists(dir.path() + "/argv"));
}
