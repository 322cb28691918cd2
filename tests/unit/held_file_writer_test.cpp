// HeldFileWriter (tests/support/held_file_writer.h) writes files the queue-file reader and, when
// it is installed, Postfix's own postcat read as intended.
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "postfix/content_cursor.h"
#include "postfix/queue_file_reader.h"
#include "support/held_file_writer.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::HeldFileSpec;
using bulkq::testing::MarkerPlacement;

namespace {

constexpr const char* kPostcat = "/usr/sbin/postcat";

std::vector<std::string> lines_of(const std::string& bytes, const PostfixQueueFile& file) {
  std::vector<std::string> lines;
  const ContentLinesResult walked =
      for_each_content_line(bytes, file, [&](std::string_view line) { lines.emplace_back(line); });
  REQUIRE(walked.error == "");
  return lines;
}

HeldFileSpec sample_spec() {
  HeldFileSpec spec;
  spec.queue_id = "33065A722AD";
  spec.sender = "bulk@example.org";
  spec.recipients = {{"a@example.net", false}, {"b@example.net", true}, {"c@example.com", false}};
  spec.marker = 42;
  spec.body_lines = {"first", std::string(5000, 'x'), "..", ""};
  return spec;
}

std::vector<std::string> expected_content(const HeldFileSpec& spec) {
  std::vector<std::string> lines = spec.headers;
  if (spec.marker) lines.push_back("X-Bulkq-Id: " + std::to_string(*spec.marker));
  lines.emplace_back();
  lines.insert(lines.end(), spec.body_lines.begin(), spec.body_lines.end());
  return lines;
}

// Runs a command and returns its stdout (test-only: a shell is fine here).
std::string command_output(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    output.append(buffer, n);
  CHECK(::pclose(pipe) == 0);
  return output;
}

}  // namespace

TEST_CASE("held_file_bytes: a file parse_queue_file reads back as specified", "[postfix]") {
  for (const MarkerPlacement placement :
       {MarkerPlacement::inline_header, MarkerPlacement::heap_after_end}) {
    HeldFileSpec spec = sample_spec();
    spec.marker_placement = placement;
    const std::string bytes = bulkq::testing::held_file_bytes(spec);
    const PostfixQueueFileResult parsed = parse_queue_file(bytes);
    REQUIRE(parsed.error == "");
    const PostfixQueueFile& file = parsed.file;
    CHECK(file.arrival_seconds == spec.arrival_seconds);
    CHECK(file.arrival_microseconds == spec.arrival_microseconds);
    CHECK(file.sender == "bulk@example.org");
    REQUIRE(file.recipients.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(file.recipients[i].address == spec.recipients[i].address);
      CHECK(file.recipients[i].original_address == spec.recipients[i].address);
      CHECK(file.recipients[i].done == spec.recipients[i].done);
      CHECK(file.recipients[i].dsn_orig_rcpt == "rfc822;" + spec.recipients[i].address);
    }
    CHECK(file.size.recipient_count == 3);
    CHECK(file.size.content_offset == static_cast<std::int64_t>(file.content_start));
    // C content size: from the first content record to X, which is where the body ends.
    const std::size_t x = bytes.rfind(std::string("X\0E\0", 4));
    REQUIRE(x != std::string::npos);
    CHECK(file.size.content_size == static_cast<std::int64_t>(x - file.content_start));
    CHECK(lines_of(bytes, file) == expected_content(spec));
  }
  // A 5000-byte line is stored as Postfix stores it: L 2048, L 2048, N 904.
  const std::string bytes = bulkq::testing::held_file_bytes(sample_spec());
  CHECK(bytes.find(std::string("L\x80\x10") + std::string(2048, 'x') + "L\x80\x10") !=
        std::string::npos);
  CHECK(bytes.find(std::string("N\x88\x07") + std::string(904, 'x')) != std::string::npos);
}

TEST_CASE("write_held_file: HOLD_DIR/ID with the mode asked for", "[postfix]") {
  const bulkq::testing::TempDir dir;
  HeldFileSpec spec = sample_spec();
  const std::string path = bulkq::testing::write_held_file(dir.path(), spec);
  REQUIRE(path == dir.path() + "/33065A722AD");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  spec.queue_id = "INCOMPLETE";
  REQUIRE(bulkq::testing::write_held_file(dir.path(), spec, 0600) != "");
  REQUIRE(::stat((dir.path() + "/INCOMPLETE").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(bulkq::testing::write_held_file(dir.path() + "/nonexistent", spec) == "");
}

TEST_CASE("postcat reads a written held file as specified", "[postfix]") {
  if (::access(kPostcat, X_OK) != 0) {
    WARN("skipped: " << kPostcat << " is not installed");
    return;
  }
  const bulkq::testing::TempDir dir;
  const std::string main_cf = dir.write("main.cf", "queue_directory = " + dir.path() + "\n");
  // Postfix sleeps until a configuration file written in the last second has settled.
  std::filesystem::last_write_time(
      main_cf, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  dir.write("master.cf", "");
  for (const MarkerPlacement placement :
       {MarkerPlacement::inline_header, MarkerPlacement::heap_after_end}) {
    HeldFileSpec spec = sample_spec();
    spec.marker_placement = placement;
    const std::string path = bulkq::testing::write_held_file(dir.path(), spec);
    REQUIRE(path != "");
    const std::string output =
        command_output(std::string("TZ=UTC ") + kPostcat + " -c " + dir.path() + " " + path);
    std::istringstream lines(output);
    std::string line;
    std::vector<std::string> envelope, content;
    enum { before, in_envelope, in_content, after } section = before;
    while (std::getline(lines, line)) {
      if (line.rfind("*** ENVELOPE RECORDS", 0) == 0) {
        section = in_envelope;
      } else if (line.rfind("*** MESSAGE CONTENTS", 0) == 0) {
        section = in_content;
      } else if (line.rfind("*** ", 0) == 0) {
        section = after;
      } else if (section == in_envelope) {
        envelope.push_back(line);
      } else if (section == in_content) {
        content.push_back(line);
      }
    }
    const auto has = [&](const std::string& wanted) {
      return std::find(envelope.begin(), envelope.end(), wanted) != envelope.end();
    };
    const std::string bytes = bulkq::testing::held_file_bytes(spec);
    const PostfixQueueFileResult parsed = parse_queue_file(bytes);
    REQUIRE(parsed.error == "");
    const PostfixSizeRecord& size = parsed.file.size;
    std::ostringstream fields;
    for (const std::int64_t field : {size.content_size, size.content_offset, size.recipient_count,
                                     size.qmgr_flags, size.content_length, size.smtputf8_flags}) {
      fields << ' ' << std::setw(15) << field;
    }
    CHECK(has("message_size:" + fields.str()));
    CHECK(has("message_arrival_time: Sun Nov 29 09:59:18 2026"));
    CHECK(has("sender: bulk@example.org"));
    CHECK(has("recipient: a@example.net"));
    CHECK(has("done_recipient: b@example.net"));
    CHECK(has("recipient: c@example.com"));
    CHECK(has("original_recipient: a@example.net"));
    CHECK(content == expected_content(spec));
  }
}
