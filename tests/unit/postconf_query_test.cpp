// query_postconf against the real /usr/sbin/postconf (a temporary config directory) and against
// fake "postconf" scripts for the failure paths; the pure parsing and the hold-queue check.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "postfix/postconf_query.h"
#include "support/temp_dir.h"

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

constexpr const char* kRealPostconf = "/usr/sbin/postconf";
const std::string kQueryArgs = " -h queue_directory hash_queue_names mail_owner";

// A fake postconf: a shell script in `dir`, executable.
std::string fake_postconf(const bulkq::testing::TempDir& dir, const std::string& body) {
  const std::string path = dir.write("postconf", "#!/bin/sh\n" + body + "\n");
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
  return path;
}

// Writes main.cf dated an hour back: Postfix sleeps until a configuration file written in the
// last second has settled (about 2 s per call on a fresh file).
void write_main_cf(const bulkq::testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.write("main.cf", text);
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - 1h);
}

}  // namespace

TEST_CASE("hash_queue_names splits on commas and whitespace", "[postfix]") {
  CHECK(split_queue_names("deferred, defer") == std::vector<std::string>{"deferred", "defer"});
  CHECK(split_queue_names("  hold,,deferred\tdefer ,") ==
        std::vector<std::string>{"hold", "deferred", "defer"});
  CHECK(split_queue_names("").empty());
  CHECK(split_queue_names(" , ").empty());
}

TEST_CASE("a hashed hold queue is refused with what to do about it", "[postfix]") {
  CHECK(check_hold_not_hashed({"deferred", "defer"}) == "");
  CHECK(check_hold_not_hashed({}) == "");
  CHECK(check_hold_not_hashed({"holder", "Hold"}) == "");  // Postfix compares exactly
  CHECK(check_hold_not_hashed({"deferred", "hold"}) ==
        "hash_queue_names lists hold: bulkq needs a flat hold queue (remove hold from "
        "hash_queue_names, then run postsuper -s)");
}

TEST_CASE("postconf -h output: three lines, checked", "[postfix]") {
  const PostconfResult ok =
      parse_postconf_output("/var/spool/postfix\ndeferred, defer\npostfix\n", "postconf");
  REQUIRE(ok.error == "");
  CHECK(ok.settings.queue_directory == "/var/spool/postfix");
  CHECK(ok.settings.hash_queue_names == std::vector<std::string>{"deferred", "defer"});
  CHECK(ok.settings.mail_owner == "postfix");

  const PostconfResult empty_names = parse_postconf_output("/q\n\npostfix\n", "postconf");
  REQUIRE(empty_names.error == "");
  CHECK(empty_names.settings.hash_queue_names.empty());

  CHECK(parse_postconf_output("/q\npostfix\n", "PC").error ==
        "PC: unexpected output \"/q\\x0apostfix\\x0a\": 2 lines, expected 3 (queue_directory, "
        "hash_queue_names, mail_owner)");
  CHECK_THAT(parse_postconf_output("/q\na\nb\nc\n", "PC").error, Catch::Contains("4 lines"));
  CHECK_THAT(parse_postconf_output("", "PC").error, Catch::Contains("0 lines"));
  CHECK_THAT(parse_postconf_output("/q\na\npostfix", "PC").error,
             Catch::EndsWith("the last line has no newline"));
  CHECK_THAT(parse_postconf_output("spool\na\npostfix\n", "PC").error,
             Catch::EndsWith("queue_directory is not an absolute path"));
  CHECK_THAT(parse_postconf_output("/q\na\n\n", "PC").error,
             Catch::EndsWith("mail_owner is empty"));
}

TEST_CASE("the real postconf reports a temporary main.cf", "[postfix]") {
  if (::access(kRealPostconf, X_OK) != 0) {
    WARN("skipped: " << kRealPostconf << " is not installed");
    return;
  }
  const bulkq::testing::TempDir config;
  write_main_cf(config, "queue_directory = /tmp/x\nhash_queue_names = deferred, defer\n");
  const PostconfResult result = query_postconf(kRealPostconf, config.path());
  REQUIRE(result.error == "");
  CHECK(result.settings.queue_directory == "/tmp/x");
  CHECK(result.settings.hash_queue_names == std::vector<std::string>{"deferred", "defer"});
  CHECK(result.settings.mail_owner == "postfix");  // the compiled-in default
  CHECK(check_hold_not_hashed(result.settings.hash_queue_names) == "");
  // Postfix 3.7 warns that there is no master.cf; a warning is not a failure.
  CHECK_THAT(result.warnings, Catch::Contains("master.cf") || Catch::Equals(""));

  write_main_cf(config, "queue_directory = /tmp/x\nhash_queue_names = hold, deferred\n");
  const PostconfResult hashed = query_postconf(kRealPostconf, config.path());
  REQUIRE(hashed.error == "");
  CHECK(check_hold_not_hashed(hashed.settings.hash_queue_names) != "");

  const PostconfResult missing = query_postconf(kRealPostconf, config.path() + "/nonexistent");
  CHECK_THAT(missing.error,
             Catch::StartsWith(std::string(kRealPostconf) + " -c " + config.path() +
                               "/nonexistent" + kQueryArgs + ": exit status 1: \"") &&
                 Catch::Contains("fatal: open " + config.path() + "/nonexistent/main.cf"));
}

TEST_CASE("a failing postconf is an error naming the command and what it said", "[postfix]") {
  const bulkq::testing::TempDir dir;
  SECTION("exit status and stderr") {
    const std::string postconf =
        fake_postconf(dir, "echo 'postconf: fatal: bad main.cf' >&2\necho partial\nexit 1");
    CHECK(query_postconf(postconf, "/etc/x").error ==
          postconf + " -c /etc/x" + kQueryArgs +
              ": exit status 1: \"postconf: fatal: bad main.cf\"");
  }
  SECTION("garbage on stdout") {
    const std::string postconf = fake_postconf(dir, "echo hello");
    CHECK(query_postconf(postconf, "/etc/x").error ==
          postconf + " -c /etc/x" + kQueryArgs +
              ": unexpected output \"hello\\x0a\": 1 lines, expected 3 (queue_directory, "
              "hash_queue_names, mail_owner)");
  }
  SECTION("killed by a signal") {
    const std::string postconf = fake_postconf(dir, "echo dying >&2\nkill -9 $$");
    CHECK(query_postconf(postconf, "/etc/x").error ==
          postconf + " -c /etc/x" + kQueryArgs + ": killed by signal 9: \"dying\"");
  }
  SECTION("a hang times out") {
    const std::string postconf = fake_postconf(dir, "exec sleep 30");
    const auto start = std::chrono::steady_clock::now();
    CHECK(query_postconf(postconf, "/etc/x", 200ms).error ==
          postconf + " -c /etc/x" + kQueryArgs + ": timed out after 200 ms");
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  SECTION("a child that closes its output and keeps running still times out") {
    const std::string postconf = fake_postconf(dir, "exec >&- 2>&-\nsleep 30");
    const auto start = std::chrono::steady_clock::now();
    CHECK_THAT(query_postconf(postconf, "/etc/x", 300ms).error,
               Catch::EndsWith(": timed out after 300 ms"));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  SECTION("endless output is cut off") {
    const std::string postconf = fake_postconf(dir, "exec yes");
    CHECK_THAT(query_postconf(postconf, "/etc/x").error,
               Catch::EndsWith(": more than 65536 bytes of output"));
  }
  SECTION("a program that is not there") {
    CHECK(query_postconf(dir.path() + "/none", "/etc/x").error ==
          dir.path() + "/none -c /etc/x" + kQueryArgs + ": cannot execute " + dir.path() +
              "/none: No such file or directory");
    CHECK_THAT(query_postconf("postconf", "/etc/x").error,
               Catch::EndsWith(": not an absolute program path"));
  }
  SECTION("the arguments arrive as given, stdin is /dev/null, stderr warnings are kept") {
    const std::string postconf =
        fake_postconf(dir, "echo \"args: $*\" >&2\ncat >&2\nprintf '/q\\nhold\\npostfix\\n'");
    const PostconfResult result = query_postconf(postconf, "/etc/with space");
    REQUIRE(result.error == "");
    CHECK(result.warnings ==
          "args: -c /etc/with space -h queue_directory hash_queue_names mail_owner");
    CHECK(result.settings.hash_queue_names == std::vector<std::string>{"hold"});
  }
}

TEST_CASE("run_program: exit status and output of a finished program", "[postfix]") {
  const ProgramRun run = run_program({"/bin/sh", "-c", "printf out; printf err >&2; exit 3"}, 5s);
  CHECK(run.error == "");
  CHECK(run.exit_status == 3);
  CHECK(run.signal == 0);
  CHECK(run.stdout_text == "out");
  CHECK(run.stderr_text == "err");
  CHECK_FALSE(run.exited_zero());
  CHECK(run_program({"/bin/sh", "-c", "exit 0"}, 5s).exited_zero());
  // Only the first kMaxProgramStderr bytes of stderr are kept; the rest is drained.
  const ProgramRun noisy = run_program({"/bin/sh", "-c", "head -c 100000 /dev/zero >&2"}, 5s);
  CHECK(noisy.exited_zero());
  CHECK(noisy.stderr_text.size() == kMaxProgramStderr);
  CHECK(describe_command({"/a", "b", "c"}) == "/a b c");
}
