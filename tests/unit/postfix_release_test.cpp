// Handing a held message back to Postfix: the deferred queue's hashed path (short and long
// queue ids, depths 1 and 2), the R→D marks on the real held files of tests/data/postfix/held
// (envelope, extracted segment, a milter-added recipient reached through a pointer) and
// PostfixSpool::release in a temporary queue directory.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "postfix/done_recipient_marks.h"
#include "postfix/hashed_queue_path.h"
#include "postfix/postfix_spool.h"
#include "postfix/queue_file_reader.h"
#include "support/held_file_writer.h"
#include "support/held_samples.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::kHeldDir;
using bulkq::testing::slurp;

namespace {

const std::vector<std::string> kDefaultHashed{"deferred", "defer"};

std::vector<bool> done_flags(const std::string& bytes) {
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.ok());
  std::vector<bool> out;
  for (const PostfixRecipient& r : parsed.file.recipients)
    out.push_back(r.done);
  return out;
}

std::string first_line_id(const std::string& name) {
  const std::string postcat = slurp(kHeldDir + "/" + name + ".postcat");
  const std::string prefix = "*** ENVELOPE RECORDS hold/";
  REQUIRE(postcat.rfind(prefix, 0) == 0);
  return postcat.substr(prefix.size(), postcat.find(' ', prefix.size()) - prefix.size());
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("deferred path: short ids hash on their own first characters", "[postfix][release]") {
  CHECK(hashed_queue_directory("deferred", "33065A722AD", kDefaultHashed, 1) == "deferred/3/");
  CHECK(hashed_queue_directory("deferred", "33065A722AD", kDefaultHashed, 2) == "deferred/3/3/");
  CHECK(hashed_queue_directory("deferred", "CBB75A7A0D5", kDefaultHashed, 2) == "deferred/C/B/");
  // Names compare without case, as Postfix's strcasecmp; a queue not listed is flat.
  CHECK(hashed_queue_directory("deferred", "CBB75A7A0D5", {"Deferred"}, 1) == "deferred/C/");
  CHECK(hashed_queue_directory("deferred", "CBB75A7A0D5", {"defer", "hold"}, 1) == "deferred/");
  CHECK(hashed_queue_directory("deferred", "CBB75A7A0D5", {}, 2) == "deferred/");
  // Fewer characters than levels: '_' levels, as dir_forest pads.
  CHECK(hashed_queue_directory("deferred", "AB", kDefaultHashed, 3) == "deferred/A/B/_/");
}

TEST_CASE("deferred path: long ids hash on their microseconds in 5 hex digits",
          "[postfix][release]") {
  // MTA-FACTS §1: 4jcjj44HR8z… → usec "4HR8" (base 52) = 0x93824 → hold/9/ when hashed.
  CHECK(queue_hash_source("4jcjj44HR8z1bYM2") == "93824");
  CHECK(hashed_queue_directory("deferred", "4jcjj44HR8z1bYM2", kDefaultHashed, 1) == "deferred/9/");
  CHECK(hashed_queue_directory("deferred", "4jcjj44HR8z1bYM2", kDefaultHashed, 2) ==
        "deferred/9/3/");
  // 0000 → 00000; the smallest microseconds stay 5 digits wide.
  CHECK(queue_hash_source("4jcjNh0000z1bYM2") == "00000");
  CHECK(queue_hash_source("4jcjNh0001z1") == "00001");
  // The last 'z' is the separator; a 'z' among the microseconds is a digit (51).
  CHECK(queue_hash_source("4jcjNh000zzB") == "00033");  // "000z" = 51 = 0x33
  // A 'z' before position 10 is not a long id's separator: the id hashes as itself.
  CHECK(queue_hash_source("ABCz123") == "ABCz123");
  CHECK(hashed_queue_directory("deferred", "ABCz123", kDefaultHashed, 1) == "deferred/A/");
}

TEST_CASE("done marks: real held files, R→D at each finished recipient's record",
          "[postfix][release]") {
  struct Case {
    std::string name;
    std::vector<std::uint32_t> finished;
    std::vector<bool> done_before;
    std::vector<bool> done_after;
    std::uint32_t still_to_deliver;
  };
  const std::vector<Case> cases = {
      {"two_rcpt", {0}, {false, false}, {true, false}, 1},
      {"two_rcpt", {0, 1}, {false, false}, {true, true}, 0},
      {"two_rcpt", {}, {false, false}, {false, false}, 2},
      // Postfix's own D stays; marking it again is nothing to do.
      {"done_recipient", {0}, {true, false}, {true, false}, 1},
      {"done_recipient", {1}, {true, false}, {true, true}, 0},
      // The extracted segment (sendmail -t: after the content).
      {"bcc_sendmail_t", {2}, {false, false, false}, {false, false, true}, 2},
      // A recipient a milter added, in the heap after `E`, reached through a `p` pointer.
      {"milter_edits", {1}, {false, false}, {false, true}, 1},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::string bytes = slurp(kHeldDir + "/" + c.name);
    const PostfixQueueFileResult parsed = parse_queue_file(bytes);
    REQUIRE(parsed.ok());
    CHECK(done_flags(bytes) == c.done_before);
    const DoneMarksPlan plan = plan_done_marks(bytes, parsed.file, c.finished);
    REQUIRE(plan.ok());
    CHECK(plan.still_to_deliver == c.still_to_deliver);
    const std::size_t size = bytes.size();
    apply_done_marks(bytes, plan);
    CHECK(bytes.size() == size);  // in place, one byte each
    CHECK(done_flags(bytes) == c.done_after);
  }
}

TEST_CASE("done marks: an index past the list, or no R where the reader saw one, is refused",
          "[postfix][release]") {
  std::string bytes = slurp(kHeldDir + "/two_rcpt");
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.ok());
  const std::vector<std::uint32_t> past{2};
  const DoneMarksPlan bad = plan_done_marks(bytes, parsed.file, past);
  CHECK(bad.error == "finished recipient 2 is past the file's 2 recipient(s)");
  CHECK(bad.offsets.empty());
  // The file changed under the plan: the byte is no longer an R.
  bytes[parsed.file.recipients[1].record_offset] = 'X';
  const std::vector<std::uint32_t> second{1};
  const DoneMarksPlan changed = plan_done_marks(bytes, parsed.file, second);
  CHECK_FALSE(changed.ok());
  CHECK(changed.offsets.empty());
}

TEST_CASE("PostfixSpool::release: marks, then moves hold/ID to deferred/<hash>/ID",
          "[postfix][release]") {
  bulkq::testing::TempDir temp;
  const std::string hold = temp.path() + "/hold";
  REQUIRE(::mkdir(hold.c_str(), 0700) == 0);
  const std::string id = first_line_id("two_rcpt");  // CBB75A7A0D5
  const auto put = [&](mode_t mode) {
    const std::string path = hold + "/" + id;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << slurp(kHeldDir + "/two_rcpt");
    REQUIRE(::chmod(path.c_str(), mode) == 0);
  };

  SECTION("depth 1, the deferred level created as needed") {
    PostfixSpool spool(temp.path());
    put(0700);
    const std::vector<RecipientIndex> finished{0};
    const SpoolReleaseResult result = spool.release(id, finished);
    REQUIRE(result.error == "");
    CHECK(result.recipients == 1);
    CHECK(result.marked_done == 1);
    CHECK_FALSE(exists(hold + "/" + id));
    const std::string moved = temp.path() + "/deferred/C/" + id;
    REQUIRE(exists(moved));
    struct stat st {};
    REQUIRE(::stat(moved.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    CHECK(done_flags(slurp(moved)) == std::vector<bool>{true, false});
    // Gone now: reported as such, nothing done.
    const SpoolReleaseResult again = spool.release(id, finished);
    CHECK(again.gone);
    CHECK_FALSE(again.ok());
  }
  SECTION("depth 2, an existing deferred directory") {
    PostfixReleaseSettings settings;
    settings.hash_queue_depth = 2;
    REQUIRE(::mkdir((temp.path() + "/deferred").c_str(), 0700) == 0);
    PostfixSpool spool(temp.path(), settings);
    put(0700);
    const SpoolReleaseResult result = spool.release(id, {});
    REQUIRE(result.error == "");
    CHECK(result.recipients == 2);
    CHECK(result.marked_done == 0);
    CHECK(exists(temp.path() + "/deferred/C/B/" + id));
  }
  SECTION("an incomplete file (not 0700) is left alone") {
    PostfixSpool spool(temp.path());
    put(0600);
    const SpoolReleaseResult result = spool.release(id, {});
    CHECK_FALSE(result.ok());
    CHECK_FALSE(result.gone);
    CHECK(exists(hold + "/" + id));
    CHECK(done_flags(slurp(hold + "/" + id)) == std::vector<bool>{false, false});
  }
  SECTION("a finished index past the file's list: nothing written, nothing moved") {
    PostfixSpool spool(temp.path());
    put(0700);
    const std::vector<RecipientIndex> finished{0, 5};
    const SpoolReleaseResult result = spool.release(id, finished);
    CHECK_FALSE(result.ok());
    CHECK(exists(hold + "/" + id));
    CHECK(done_flags(slurp(hold + "/" + id)) == std::vector<bool>{false, false});
  }
  SECTION("qmgr is asked to scan the deferred queue: 'D' on its unix socket, or its FIFO") {
    REQUIRE(::mkdir((temp.path() + "/public").c_str(), 0755) == 0);
    const std::string endpoint = temp.path() + "/public/qmgr";
    PostfixSpool spool(temp.path());
    put(0700);
    // No endpoint: released all the same, with a warning.
    SpoolReleaseResult result = spool.release(id, {});
    REQUIRE(result.error == "");
    CHECK(result.warning.find("next deferred-queue scan") != std::string::npos);
    REQUIRE(::rename((temp.path() + "/deferred/C/" + id).c_str(), (hold + "/" + id).c_str()) == 0);

    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, endpoint.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    result = spool.release(id, {});
    REQUIRE(result.error == "");
    CHECK(result.warning == "");
    const int peer = ::accept(listener, nullptr, nullptr);
    REQUIRE(peer >= 0);
    char request[4] = {};
    CHECK(::read(peer, request, sizeof request) == 1);
    CHECK(request[0] == 'D');
    ::close(peer);
    ::close(listener);
    REQUIRE(::unlink(endpoint.c_str()) == 0);
    REQUIRE(::rename((temp.path() + "/deferred/C/" + id).c_str(), (hold + "/" + id).c_str()) == 0);

    REQUIRE(::mkfifo(endpoint.c_str(), 0622) == 0);
    const int reader = ::open(endpoint.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    result = spool.release(id, {});
    REQUIRE(result.error == "");
    CHECK(result.warning == "");
    CHECK(::read(reader, request, sizeof request) == 1);
    CHECK(request[0] == 'D');
    ::close(reader);
  }
  SECTION("an invalid queue id is refused") {
    PostfixSpool spool(temp.path());
    CHECK_FALSE(spool.release("../x", {}).ok());
  }
}
