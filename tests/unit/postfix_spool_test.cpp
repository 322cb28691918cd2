// PostfixSpool against a temporary queue directory: the real held files of
// tests/data/postfix/held (postcat's view of each is the oracle) and synthetic ones from
// HeldFileWriter, plus the states, errors and id checks around them.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <ctime>
#include <filesystem>
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

// What `postcat -q ID` printed for a held file: the parts a SpoolAdapter reports.
struct Postcat {
  std::string queue_id;  // from "*** ENVELOPE RECORDS hold/ID ***"
  std::string arrival;   // asctime text, UTC
  std::string sender;
  std::vector<std::string> recipients;  // "address" or "done address", both segments
  std::vector<std::string> content;     // MESSAGE CONTENTS, line by line
};

bool take(std::string_view line, std::string_view prefix, std::string& value) {
  if (line.substr(0, prefix.size()) != prefix) return false;
  value = std::string(line.substr(prefix.size()));
  return true;
}

Postcat read_postcat(const std::string& name) {
  Postcat view;
  std::istringstream lines(slurp(kHeldDir + "/" + name + ".postcat"));
  std::string line;
  std::string value;
  bool in_content = false;
  while (std::getline(lines, line)) {
    if (take(line, "*** ENVELOPE RECORDS hold/", value)) {
      view.queue_id = value.substr(0, value.find(' '));
    } else if (line.rfind("*** MESSAGE CONTENTS", 0) == 0) {
      in_content = true;
    } else if (line.rfind("*** ", 0) == 0) {
      in_content = false;
    } else if (in_content) {
      view.content.push_back(line);
    } else if (take(line, "message_arrival_time: ", value)) {
      view.arrival = value;
    } else if (take(line, "sender: ", value)) {
      view.sender = value;
    } else if (take(line, "recipient: ", value)) {
      view.recipients.push_back(value);
    } else if (take(line, "done_recipient: ", value)) {
      view.recipients.push_back("done " + value);
    }
  }
  return view;
}

std::string asctime_utc(std::int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a %b %e %H:%M:%S %Y", &tm);
  return text;
}

std::vector<std::string> describe(const std::vector<HeldRecipient>& recipients) {
  std::vector<std::string> out;
  for (const HeldRecipient& r : recipients)
    out.push_back(r.done ? "done " + r.address : r.address);
  return out;
}

// QUEUEDIR with hold/ (mode 0700, as Postfix makes it) in a temp dir.
struct QueueDir {
  bulkq::testing::TempDir temp;
  std::string hold = temp.path() + "/hold";
  PostfixSpool spool{temp.path()};

  QueueDir() { REQUIRE(::mkdir(hold.c_str(), 0700) == 0); }

  // Copies a real held file in as hold/ID with `mode`; returns ID.
  std::string add_real(const std::string& name, mode_t mode = 0700) const {
    const std::string id = read_postcat(name).queue_id;
    REQUIRE_FALSE(id.empty());
    put(id, slurp(kHeldDir + "/" + name), mode);
    return id;
  }
  void put(const std::string& id, const std::string& bytes, mode_t mode = 0700) const {
    const std::string path = hold + "/" + id;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
  }
  std::string add(const HeldFileSpec& spec, mode_t mode = 0700) const {
    REQUIRE(bulkq::testing::write_held_file(hold, spec, mode) != "");
    return spec.queue_id;
  }
};

std::vector<std::string> stream(PostfixSpool& spool, std::string_view id) {
  std::vector<std::string> lines;
  const SpoolResult result =
      spool.stream_message(id, [&](std::string_view line) { lines.emplace_back(line); });
  REQUIRE(result.error == "");
  return lines;
}

std::vector<std::string> listed(PostfixSpool& spool) {
  std::vector<std::string> ids;
  const SpoolResult result = spool.list_held([&](std::string_view id) { ids.emplace_back(id); });
  REQUIRE(result.error == "");
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

TEST_CASE("every real held file: envelope and content as postcat shows them", "[postfix]") {
  QueueDir q;
  for (const std::string& name : kHeldFiles)
    q.add_real(name);
  for (const std::string& name : kHeldFiles) {
    INFO("held file " << name);
    const Postcat postcat = read_postcat(name);
    const std::string& id = postcat.queue_id;
    CHECK(q.spool.check(id).state == HeldFileState::committed);

    const HeldEnvelopeResult read = q.spool.read_envelope(id);
    REQUIRE(read.error == "");
    const HeldEnvelope& envelope = read.envelope;
    CHECK(envelope.queue_id == id);
    CHECK(envelope.sender == postcat.sender);
    CHECK(describe(envelope.recipients) == postcat.recipients);
    CHECK(asctime_utc(envelope.arrival_unix_ms) == postcat.arrival);
    CHECK(envelope.marker == std::nullopt);

    const std::vector<std::string> lines = stream(q.spool, id);
    REQUIRE(lines.size() == postcat.content.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      INFO("line " << i);
      CHECK(lines[i] == postcat.content[i]);
    }
  }
}

TEST_CASE("real held files: details the engine relies on", "[postfix]") {
  QueueDir q;
  SECTION("a delivered recipient is reported done, in its place") {
    const HeldEnvelopeResult read = q.spool.read_envelope(q.add_real("done_recipient"));
    REQUIRE(read.ok());
    REQUIRE(read.envelope.recipients.size() == 2);
    CHECK(read.envelope.recipients[0].done);
    CHECK_FALSE(read.envelope.recipients[1].done);
  }
  SECTION("sendmail -t: recipients of the extracted segment come after the envelope's") {
    const HeldEnvelopeResult read = q.spool.read_envelope(q.add_real("bcc_sendmail_t"));
    REQUIRE(read.ok());
    CHECK(describe(read.envelope.recipients) ==
          std::vector<std::string>{"to@example.net", "cc@example.net", "hidden@example.net"});
  }
  SECTION("the null sender is empty; arrival keeps the milliseconds of the T record") {
    const HeldEnvelopeResult read = q.spool.read_envelope(q.add_real("null_sender"));
    REQUIRE(read.ok());
    CHECK(read.envelope.sender.empty());
    CHECK(read.envelope.arrival_unix_ms % 1000 != 0);  // T "1795952871 <usec>"
  }
}

TEST_CASE("synthetic held files: arrival time, done recipients, order", "[postfix]") {
  QueueDir q;
  HeldFileSpec spec;
  spec.queue_id = "4jcjNh4glqz1bYM2";  // a long queue id
  spec.arrival_seconds = 1795946358;
  spec.arrival_microseconds = 182999;
  spec.recipients = {{"a@example.net", false}, {"b@example.net", true}, {"c@example.net", false}};
  const HeldEnvelopeResult read = q.spool.read_envelope(q.add(spec));
  REQUIRE(read.error == "");
  CHECK(read.envelope.arrival_unix_ms == 1795946358182);
  CHECK(describe(read.envelope.recipients) ==
        std::vector<std::string>{"a@example.net", "done b@example.net", "c@example.net"});
  CHECK(read.envelope.sender == "sender@example.org");
}

TEST_CASE("check: missing, incomplete, committed, error", "[postfix]") {
  QueueDir q;
  const std::string id = q.add_real("two_rcpt");
  CHECK(q.spool.check(id).state == HeldFileState::committed);
  CHECK(q.spool.check(id).error == "");

  // cleanup renames incoming/ID to hold/ID before it fchmods to 0700.
  q.put("INCOMPLETE1", slurp(kHeldDir + "/two_rcpt"), 0600);
  CHECK(q.spool.check("INCOMPLETE1").state == HeldFileState::incomplete);
  q.put("INCOMPLETE2", slurp(kHeldDir + "/two_rcpt"), 0744);
  CHECK(q.spool.check("INCOMPLETE2").state == HeldFileState::incomplete);
  q.put("INCOMPLETE3", slurp(kHeldDir + "/two_rcpt"), 04700);  // setuid bit: not Postfix's 0700
  CHECK(q.spool.check("INCOMPLETE3").state == HeldFileState::incomplete);

  const HeldFileCheck missing = q.spool.check("ABSENT123");
  CHECK(missing.state == HeldFileState::missing);
  CHECK(missing.error == "");

  REQUIRE(::mkdir((q.hold + "/DIR1").c_str(), 0700) == 0);
  const HeldFileCheck dir = q.spool.check("DIR1");
  CHECK(dir.state == HeldFileState::error);
  CHECK(dir.error == q.hold + "/DIR1 is not a regular file");

  REQUIRE(::symlink((q.hold + "/" + id).c_str(), (q.hold + "/LINK1").c_str()) == 0);
  CHECK(q.spool.check("LINK1").state == HeldFileState::error);  // lstat: a link is not the file

  PostfixSpool not_a_dir(q.hold + "/" + id);  // QUEUEDIR is a file: ENOTDIR
  const HeldFileCheck failed = not_a_dir.check("ABC");
  CHECK(failed.state == HeldFileState::error);
  CHECK(failed.error == "cannot stat " + q.hold + "/" + id + "/hold/ABC: Not a directory");
}

TEST_CASE("a corrupt or truncated held file is an error for that message only", "[postfix]") {
  QueueDir q;
  const std::string good = q.add_real("milter_edits");
  const std::string bytes = slurp(kHeldDir + "/two_rcpt");
  q.put("TRUNCATED1", bytes.substr(0, bytes.size() - 2));
  q.put("GARBAGE1", "not a queue file");
  q.put("EMPTY1", "");

  const HeldEnvelopeResult truncated = q.spool.read_envelope("TRUNCATED1");
  CHECK_THAT(truncated.error, Catch::StartsWith("hold/TRUNCATED1: truncated queue file"));
  std::size_t lines = 0;
  const SpoolResult streamed =
      q.spool.stream_message("TRUNCATED1", [&](std::string_view) { ++lines; });
  CHECK_THAT(streamed.error, Catch::StartsWith("hold/TRUNCATED1: truncated queue file"));
  CHECK(lines == 0);  // the file is checked whole before the first line goes out

  CHECK(q.spool.read_envelope("GARBAGE1").error ==
        "hold/GARBAGE1: offset 0: record type 'n' with length 111 runs past the end of the file "
        "(size 16)");
  q.put("GARBAGE2", std::string("T\x03"
                                "1 0",
                                5));
  CHECK_THAT(q.spool.read_envelope("GARBAGE2").error,
             Catch::StartsWith("hold/GARBAGE2: offset 0: ") &&
                 Catch::EndsWith("not a Postfix queue file"));
  CHECK(q.spool.read_envelope("EMPTY1").error == "hold/EMPTY1: empty queue file");
  CHECK(q.spool.read_envelope("MISSING1").error ==
        "cannot open " + q.hold + "/MISSING1: No such file or directory");
  CHECK(q.spool.stream_message("MISSING1", [](std::string_view) {}).error ==
        "cannot open " + q.hold + "/MISSING1: No such file or directory");

  // The others still read.
  CHECK(q.spool.read_envelope(good).ok());
  CHECK(stream(q.spool, good).size() == read_postcat("milter_edits").content.size());
  // They are committed as far as the mode says: reading is what finds them broken.
  std::vector<std::string> all = {"EMPTY1", "GARBAGE1", "GARBAGE2", good, "TRUNCATED1"};
  std::sort(all.begin(), all.end());
  CHECK(listed(q.spool) == all);
}

TEST_CASE("remove: unlinks, and a file already gone is not an error", "[postfix]") {
  QueueDir q;
  const std::string id = q.add_real("one_rcpt");
  const std::string other = q.add_real("two_rcpt");
  CHECK(q.spool.remove(id).error == "");
  CHECK(q.spool.check(id).state == HeldFileState::missing);
  CHECK(q.spool.remove(id).error == "");
  CHECK(q.spool.remove("NEVERTHERE").error == "");
  CHECK(q.spool.check(other).state == HeldFileState::committed);

  REQUIRE(::mkdir((q.hold + "/DIR2").c_str(), 0700) == 0);
  CHECK_THAT(q.spool.remove("DIR2").error,
             Catch::StartsWith("cannot remove " + q.hold + "/DIR2: "));
}

TEST_CASE("list_held: committed regular files with valid names only", "[postfix]") {
  QueueDir q;
  std::vector<std::string> expected;
  for (const std::string& name : kHeldFiles)
    expected.push_back(q.add_real(name));
  const std::string two = slurp(kHeldDir + "/two_rcpt");
  q.put("INCOMING0600", two, 0600);  // not yet chmod-ed by cleanup
  q.put("bad_name", two);            // '_' is not in a queue id
  q.put("a.b", two);
  q.put(std::string(33, 'A'), two);  // too long
  q.put(".hidden", two);
  REQUIRE(::mkdir((q.hold + "/A").c_str(), 0700) == 0);  // a hashed hold queue's subdirectory
  q.put("A/DEADBEEF1", two);
  REQUIRE(::symlink((q.hold + "/" + expected[0]).c_str(), (q.hold + "/SYMLINK1").c_str()) == 0);
  REQUIRE(::mkfifo((q.hold + "/FIFO1").c_str(), 0700) == 0);

  std::sort(expected.begin(), expected.end());
  CHECK(listed(q.spool) == expected);

  SECTION("the visitor may remove what it is shown") {
    std::size_t seen = 0;
    const SpoolResult result = q.spool.list_held([&](std::string_view id) {
      ++seen;
      CHECK(q.spool.remove(id).ok());
    });
    CHECK(result.error == "");
    CHECK(seen == expected.size());
    CHECK(listed(q.spool).empty());
  }
  SECTION("an empty hold queue lists nothing") {
    for (const std::string& id : expected)
      REQUIRE(q.spool.remove(id).ok());
    CHECK(listed(q.spool).empty());
  }
}

TEST_CASE("list_held: a hold directory that cannot be read is an error", "[postfix]") {
  const bulkq::testing::TempDir temp;
  PostfixSpool spool(temp.path() + "/");  // a trailing slash is harmless
  CHECK(spool.hold_directory() == temp.path() + "/hold");
  std::size_t visited = 0;
  CHECK(spool.list_held([&](std::string_view) { ++visited; }).error ==
        "cannot read directory " + temp.path() + "/hold: No such file or directory");
  temp.write("hold", "a file, not a directory");
  CHECK(spool.list_held([&](std::string_view) { ++visited; }).error ==
        "cannot read directory " + temp.path() + "/hold: Not a directory");
  CHECK(visited == 0);
}

TEST_CASE("the marker: read from the headers, left out of the stream", "[postfix]") {
  QueueDir q;
  HeldFileSpec spec;
  spec.queue_id = "MARKED1";
  spec.marker = 987654321;
  const std::vector<std::string> expected = {"From: Sender <sender@example.org>",
                                             "To: rcpt@example.net",
                                             "Subject: synthetic held message",
                                             "Message-ID: <synthetic@example.org>",
                                             "",
                                             "Hello.",
                                             ".leading dot",
                                             "",
                                             "last line"};

  SECTION("inline and through the heap after E, as smfi_addheader leaves it") {
    for (const MarkerPlacement placement :
         {MarkerPlacement::inline_header, MarkerPlacement::heap_after_end}) {
      spec.marker_placement = placement;
      q.add(spec);
      const HeldEnvelopeResult read = q.spool.read_envelope("MARKED1");
      REQUIRE(read.error == "");
      CHECK(read.envelope.marker == MessageId{987654321});
      CHECK(stream(q.spool, "MARKED1") == expected);
    }
  }
  SECTION("absent: nothing left out") {
    spec.marker.reset();
    q.add(spec);
    CHECK(q.spool.read_envelope("MARKED1").envelope.marker == std::nullopt);
    CHECK(stream(q.spool, "MARKED1") == expected);
  }
  SECTION("garbage: no marker, and the header still never reaches a recipient") {
    spec.marker.reset();
    spec.headers.push_back("X-Bulkq-Id: not-a-number");
    q.add(spec);
    const HeldEnvelopeResult read = q.spool.read_envelope("MARKED1");
    REQUIRE(read.ok());
    CHECK(read.envelope.marker == std::nullopt);
    CHECK(stream(q.spool, "MARKED1") == expected);
  }
  SECTION("duplicated: the last well-formed one counts, none is streamed") {
    spec.headers.insert(spec.headers.begin() + 1, "x-bulkq-id: 5");
    spec.headers.insert(spec.headers.begin() + 2, "\t");  // folded, still the marker field
    spec.marker_placement = MarkerPlacement::heap_after_end;
    q.add(spec);
    CHECK(q.spool.read_envelope("MARKED1").envelope.marker == MessageId{987654321});
    CHECK(stream(q.spool, "MARKED1") == expected);
  }
  SECTION("folded: every continuation line is left out too") {
    spec.marker.reset();
    spec.headers.push_back("X-Bulkq-Id:");
    spec.headers.push_back("  4242");
    q.add(spec);
    CHECK(q.spool.read_envelope("MARKED1").envelope.marker == MessageId{4242});
    CHECK(stream(q.spool, "MARKED1") == expected);
  }
  SECTION("a body line that looks like the marker is body") {
    spec.body_lines.push_back("X-Bulkq-Id: 1");
    q.add(spec);
    std::vector<std::string> with_body_line = expected;
    with_body_line.push_back("X-Bulkq-Id: 1");
    CHECK(stream(q.spool, "MARKED1") == with_body_line);
    CHECK(q.spool.read_envelope("MARKED1").envelope.marker == MessageId{987654321});
  }
}

TEST_CASE("invalid queue ids are refused before any path is built", "[postfix]") {
  QueueDir q;
  // A file outside hold/ that a path traversal would reach.
  const std::string outside = q.temp.write("x", slurp(kHeldDir + "/one_rcpt"));
  REQUIRE(::chmod(outside.c_str(), 0700) == 0);
  for (const std::string& bad :
       {std::string("../x"), std::string("a/b"), std::string(""), std::string("."),
        std::string(".."), std::string("/etc/passwd"), std::string("ABC DEF"),
        std::string("ABC\nDEF"), std::string("ABC\0DEF", 7), std::string(33, 'A'),
        std::string("j\xc3\xb6rg")}) {
    INFO("queue id \"" << bad << "\"");
    CHECK_FALSE(is_valid_queue_id(bad));
    const HeldFileCheck checked = q.spool.check(bad);
    CHECK(checked.state == HeldFileState::error);
    CHECK_THAT(checked.error, Catch::StartsWith("invalid queue id \""));
    CHECK_THAT(q.spool.read_envelope(bad).error, Catch::StartsWith("invalid queue id"));
    CHECK_THAT(q.spool.stream_message(bad, [](std::string_view) { FAIL("streamed"); }).error,
               Catch::StartsWith("invalid queue id"));
    CHECK_THAT(q.spool.remove(bad).error, Catch::StartsWith("invalid queue id"));
  }
  CHECK(std::filesystem::exists(outside));
  CHECK(q.spool.check("../x").error == "invalid queue id \"../x\"");
  CHECK(q.spool.check(std::string("A\nB")).error == "invalid queue id \"A\\x0aB\"");

  for (const std::string& good : {std::string("33065A722AD"), std::string("4jcjNh4glqz1bYM2"),
                                  std::string("A"), std::string(32, 'z')}) {
    CHECK(is_valid_queue_id(good));
  }
}
