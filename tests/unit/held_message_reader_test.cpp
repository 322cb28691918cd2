// PostfixSpool::open_message: the HeldMessageReader over the real held files of
// tests/data/postfix/held (stream_message and postcat are the oracles) and synthetic ones.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "postfix/postfix_spool.h"
#include "support/held_file_writer.h"
#include "support/held_samples.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::HeldFileSpec;
using bulkq::testing::kHeldDir;
using bulkq::testing::kHeldFiles;
using bulkq::testing::MarkerPlacement;
using bulkq::testing::slurp;

namespace {

// The queue id and the MESSAGE CONTENTS lines `postcat -q ID` printed for a held file.
struct Postcat {
  std::string queue_id;
  std::vector<std::string> content;
};

Postcat read_postcat(const std::string& name) {
  Postcat view;
  std::istringstream lines(slurp(kHeldDir + "/" + name + ".postcat"));
  std::string line;
  bool in_content = false;
  constexpr std::string_view kEnvelope = "*** ENVELOPE RECORDS hold/";
  while (std::getline(lines, line)) {
    if (line.rfind(kEnvelope, 0) == 0) {
      const std::string rest = line.substr(kEnvelope.size());
      view.queue_id = rest.substr(0, rest.find(' '));
      in_content = false;
    } else if (line.rfind("*** MESSAGE CONTENTS", 0) == 0) {
      in_content = true;
    } else if (line.rfind("*** ", 0) == 0) {
      in_content = false;
    } else if (in_content) {
      view.content.push_back(line);
    }
  }
  return view;
}

struct QueueDir {
  bulkq::testing::TempDir temp;
  std::string hold = temp.path() + "/hold";
  PostfixSpool spool{temp.path()};

  QueueDir() { REQUIRE(::mkdir(hold.c_str(), 0700) == 0); }

  std::string add_real(const std::string& name) const {
    const std::string id = read_postcat(name).queue_id;
    REQUIRE_FALSE(id.empty());
    put(id, slurp(kHeldDir + "/" + name));
    return id;
  }
  void put(const std::string& id, const std::string& bytes, mode_t mode = 0700) const {
    const std::string path = hold + "/" + id;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
  }
};

std::vector<std::string> streamed(PostfixSpool& spool, std::string_view id) {
  std::vector<std::string> lines;
  const SpoolResult result =
      spool.stream_message(id, [&](std::string_view line) { lines.emplace_back(line); });
  REQUIRE(result.error == "");
  return lines;
}

struct ReadAll {
  std::vector<std::string> lines;
  int calls = 0;
  ReadStep last = ReadStep::more;
};

// Reads to the end in calls of `max_bytes`; checks no call passes much more than asked.
ReadAll read_all(HeldMessageReader& reader, std::size_t max_bytes) {
  ReadAll all;
  for (int guard = 0; guard < 100000; ++guard) {
    std::size_t passed = 0;
    std::size_t lines_this_call = 0;
    std::size_t last_line = 0;
    all.last = reader.read(
        [&](std::string_view line) {
          all.lines.emplace_back(line);
          passed += line.size() + 2;
          last_line = line.size() + 2;
          ++lines_this_call;
        },
        max_bytes);
    ++all.calls;
    // Stops once max_bytes is reached: only the last line may cross it.
    if (lines_this_call > 0) CHECK(passed - last_line < max_bytes);
    if (all.last != ReadStep::more) break;
  }
  return all;
}

}  // namespace

TEST_CASE("open_message on every real held file: the lines stream_message gives",
          "[postfix][reader]") {
  QueueDir q;
  for (const std::string& name : kHeldFiles) {
    INFO("held file " << name);
    const std::string id = q.add_real(name);
    const std::vector<std::string> expected = streamed(q.spool, id);
    CHECK(expected == read_postcat(name).content);

    for (std::size_t max_bytes :
         {std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{64 * 1024}}) {
      INFO("max_bytes " << max_bytes);
      HeldMessageOpenResult opened = q.spool.open_message(id);
      REQUIRE(opened.error == "");
      REQUIRE(opened.reader != nullptr);
      const ReadAll all = read_all(*opened.reader, max_bytes);
      CHECK(all.last == ReadStep::done);
      CHECK(all.lines == expected);
      CHECK(opened.reader->error().empty());
      if (max_bytes == 1) CHECK(all.calls >= static_cast<int>(expected.size()));
      // Once done, done.
      int more_lines = 0;
      CHECK(opened.reader->read([&](std::string_view) { ++more_lines; }, 1000) == ReadStep::done);
      CHECK(more_lines == 0);
    }
  }
}

TEST_CASE("open_message: the envelope matches read_envelope", "[postfix][reader]") {
  QueueDir q;
  for (const std::string& name : kHeldFiles) {
    INFO("held file " << name);
    const std::string id = q.add_real(name);
    const HeldEnvelopeResult read = q.spool.read_envelope(id);
    REQUIRE(read.ok());
    HeldMessageOpenResult opened = q.spool.open_message(id);
    REQUIRE(opened.ok());
    const HeldSendEnvelope& envelope = opened.reader->envelope();
    CHECK(envelope.sender == read.envelope.sender);
    REQUIRE(envelope.recipients.size() == read.envelope.recipients.size());
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
      CHECK(envelope.recipients[i].address == read.envelope.recipients[i].address);
      CHECK(envelope.recipients[i].done == read.envelope.recipients[i].done);
    }
    CHECK(envelope.size > 0);
  }
}

TEST_CASE("open_message: envelope details of the real samples", "[postfix][reader]") {
  QueueDir q;
  SECTION("DSN parameters: ENVID, RET=HDRS, NOTIFY=SUCCESS,FAILURE, ORCPT") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("dsn"));
    REQUIRE(opened.ok());
    const HeldSendEnvelope& e = opened.reader->envelope();
    CHECK(e.sender == "sender@example.org");
    CHECK(e.envelope_id == "bulkq-envid-42");
    CHECK(e.ret == 2);
    CHECK(e.size == 348);
    CHECK_FALSE(e.eight_bit);
    CHECK_FALSE(e.smtputf8);
    REQUIRE(e.recipients.size() == 1);
    const HeldSendRecipient& r = e.recipients[0];
    CHECK(r.address == "dsn@example.net");
    CHECK_FALSE(r.done);
    CHECK_FALSE(r.notify_never);
    CHECK(r.notify_success);
    CHECK(r.notify_failure);
    CHECK_FALSE(r.notify_delay);
    CHECK(r.original_recipient == "rfc822;orig-dsn@example.net");
  }
  SECTION("no DSN parameters given") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("one_rcpt"));
    REQUIRE(opened.ok());
    const HeldSendEnvelope& e = opened.reader->envelope();
    CHECK(e.envelope_id.empty());
    CHECK(e.ret == 0);
    REQUIRE(e.recipients.size() == 1);
    const HeldSendRecipient& r = e.recipients[0];
    CHECK_FALSE(r.notify_never);
    CHECK_FALSE(r.notify_success);
    CHECK_FALSE(r.notify_failure);
    CHECK_FALSE(r.notify_delay);
  }
  SECTION("alias expansion: each recipient keeps the address it was expanded from") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("alias_expansion"));
    REQUIRE(opened.ok());
    const HeldSendEnvelope& e = opened.reader->envelope();
    REQUIRE(e.recipients.size() >= 2);
    CHECK(e.recipients[0].address == "alice@example.net");
    CHECK(e.recipients[0].original_address == "team@example.org");
    CHECK(e.recipients[0].original_recipient == "rfc822;team@example.org");
    CHECK(e.recipients[1].address == "bob@example.net");
    CHECK(e.recipients[1].original_address == "team@example.org");
  }
  SECTION("8BITMIME and SMTPUTF8") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("utf8_8bit"));
    REQUIRE(opened.ok());
    const HeldSendEnvelope& e = opened.reader->envelope();
    CHECK(e.eight_bit);
    CHECK(e.smtputf8);
    CHECK(e.size == 448);
  }
  SECTION("the null sender") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("null_sender"));
    REQUIRE(opened.ok());
    CHECK(opened.reader->envelope().sender.empty());
  }
  SECTION("a recipient already delivered is done") {
    HeldMessageOpenResult opened = q.spool.open_message(q.add_real("done_recipient"));
    REQUIRE(opened.ok());
    const HeldSendEnvelope& e = opened.reader->envelope();
    REQUIRE(e.recipients.size() == 2);
    CHECK(e.recipients[0].done);
    CHECK_FALSE(e.recipients[1].done);
  }
}

TEST_CASE("open_message leaves bulkq's marker header out", "[postfix][reader]") {
  const MarkerPlacement placement =
      GENERATE(MarkerPlacement::inline_header, MarkerPlacement::heap_after_end);
  QueueDir q;
  HeldFileSpec spec;
  spec.queue_id = "4jcjNh4glqz1bYM2";
  spec.marker = 123456;
  spec.marker_placement = placement;
  REQUIRE(bulkq::testing::write_held_file(q.hold, spec, 0700) != "");
  HeldMessageOpenResult opened = q.spool.open_message(spec.queue_id);
  REQUIRE(opened.error == "");
  const ReadAll all = read_all(*opened.reader, 5);
  CHECK(all.last == ReadStep::done);
  std::vector<std::string> expected = spec.headers;
  expected.emplace_back("");
  expected.insert(expected.end(), spec.body_lines.begin(), spec.body_lines.end());
  CHECK(all.lines == expected);
  for (const std::string& line : all.lines)
    CHECK(line.find("X-Bulkq-Id") == std::string::npos);
}

TEST_CASE("open_message: a missing file is an error", "[postfix][reader]") {
  QueueDir q;
  const HeldMessageOpenResult opened = q.spool.open_message("NOSUCHID1");
  CHECK_FALSE(opened.ok());
  CHECK(opened.reader == nullptr);
  CHECK_THAT(opened.error, Catch::Contains("NOSUCHID1"));
  CHECK_THAT(opened.error, Catch::Contains("No such file"));
}

TEST_CASE("open_message: a corrupt or truncated file is an error before any line",
          "[postfix][reader]") {
  QueueDir q;
  const std::string bytes = slurp(kHeldDir + "/two_rcpt");
  q.put("TRUNCATED1", bytes.substr(0, bytes.size() - 2));
  q.put("GARBAGE1", "not a queue file");
  q.put("EMPTY1", "");

  const HeldMessageOpenResult truncated = q.spool.open_message("TRUNCATED1");
  CHECK_FALSE(truncated.ok());
  CHECK(truncated.reader == nullptr);
  CHECK_THAT(truncated.error, Catch::StartsWith("hold/TRUNCATED1: truncated queue file"));

  const HeldMessageOpenResult garbage = q.spool.open_message("GARBAGE1");
  CHECK_FALSE(garbage.ok());
  CHECK_THAT(garbage.error, Catch::StartsWith("hold/GARBAGE1: "));

  const HeldMessageOpenResult empty = q.spool.open_message("EMPTY1");
  CHECK_FALSE(empty.ok());
  CHECK_THAT(empty.error, Catch::Contains("EMPTY1"));
}

TEST_CASE("open_message refuses what is no queue id", "[postfix][reader]") {
  QueueDir q;
  for (const char* id : {"", "../hold/X", "a/b", "."}) {
    CAPTURE(id);
    const HeldMessageOpenResult opened = q.spool.open_message(id);
    CHECK_FALSE(opened.ok());
    CHECK(opened.reader == nullptr);
  }
}

TEST_CASE("open_message: the mapping outlives the file's removal", "[postfix][reader]") {
  QueueDir q;
  const std::string id = q.add_real("two_rcpt");
  const std::vector<std::string> expected = streamed(q.spool, id);
  HeldMessageOpenResult opened = q.spool.open_message(id);
  REQUIRE(opened.ok());
  REQUIRE(q.spool.remove(id).ok());
  CHECK(q.spool.check(id).state == HeldFileState::missing);
  const ReadAll all = read_all(*opened.reader, 64);
  CHECK(all.last == ReadStep::done);
  CHECK(all.lines == expected);
}
