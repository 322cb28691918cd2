// The Postfix queue-file reader against real held files (with postcat's view of each as the
// oracle) and against synthetic files written record by record.
#include <time.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "postfix/content_cursor.h"
#include "postfix/queue_file_bytes.h"
#include "postfix/queue_file_reader.h"
#include "postfix/queue_record.h"
#include "support/held_samples.h"
#include "support/postfix_record_writer.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::kHeldDir;
using bulkq::testing::kHeldFiles;
using bulkq::testing::PostfixRecordWriter;
using bulkq::testing::slurp;

namespace {

// One recipient as comparable text: "done orig -> addr notify=N orcpt=X [extracted]".
std::string describe(const PostfixRecipient& r) {
  return std::string(r.done ? "done " : "todo ") + r.original_address + " -> " + r.address +
         " notify=" + std::to_string(r.notify_flags) + " orcpt=" + r.dsn_orig_rcpt +
         (r.extracted ? " extracted" : "");
}

// What `postcat -q ID` (envelope, headers and body) printed for a held file.
struct PostcatView {
  std::string message_size;  // the raw C fields
  std::string arrival;       // asctime text, UTC
  std::string sender;
  bool sender_seen = false;
  std::string envelope_id, ret_flags, encoding;
  std::vector<std::string> recipients;  // describe() format
  std::vector<std::string> content;     // lines between MESSAGE CONTENTS and HEADER EXTRACTED
};

bool take(std::string_view line, std::string_view prefix, std::string& value) {
  if (line.substr(0, prefix.size()) != prefix) return false;
  value = std::string(line.substr(prefix.size()));
  return true;
}

PostcatView parse_postcat(const std::string& text) {
  PostcatView view;
  enum { envelope, content, extracted, end } section = envelope;
  PostfixRecipient pending;
  std::istringstream lines(text);
  std::string line;
  std::string value;
  while (std::getline(lines, line)) {
    if (line.rfind("*** ENVELOPE RECORDS", 0) == 0) continue;
    if (line.rfind("*** MESSAGE CONTENTS", 0) == 0) {
      section = content;
      continue;
    }
    if (line.rfind("*** HEADER EXTRACTED", 0) == 0) {
      section = extracted;
      continue;
    }
    if (line.rfind("*** MESSAGE FILE END", 0) == 0) {
      section = end;
      continue;
    }
    if (section == content) {
      view.content.push_back(line);
      continue;
    }
    if (section == end) continue;
    if (take(line, "message_size: ", view.message_size) ||
        take(line, "message_arrival_time: ", view.arrival) ||
        take(line, "named_attribute: envelope_id=", view.envelope_id) ||
        take(line, "named_attribute: ret_flags=", view.ret_flags) ||
        take(line, "named_attribute: encoding=", view.encoding)) {
      continue;
    }
    if (take(line, "sender: ", view.sender)) {
      view.sender_seen = true;
    } else if (take(line, "named_attribute: notify_flags=", value)) {
      pending.notify_flags = static_cast<std::uint32_t>(std::stoul(value));
    } else if (take(line, "named_attribute: dsn_orig_rcpt=", value)) {
      pending.dsn_orig_rcpt = value;
    } else if (take(line, "original_recipient: ", value)) {
      pending.original_address = value;
    } else if (take(line, "recipient: ", pending.address) ||
               (take(line, "done_recipient: ", pending.address) && (pending.done = true))) {
      pending.extracted = section == extracted;
      view.recipients.push_back(describe(pending));
      pending = {};
    }
  }
  return view;
}

std::string fixed_fields(const PostfixSizeRecord& s) {
  char text[160];
  std::snprintf(text, sizeof text, "%15lld %15lld %15lld %15lld %15lld %15lld",
                static_cast<long long>(s.content_size), static_cast<long long>(s.content_offset),
                static_cast<long long>(s.recipient_count), static_cast<long long>(s.qmgr_flags),
                static_cast<long long>(s.content_length), static_cast<long long>(s.smtputf8_flags));
  return text;
}

std::string asctime_utc(std::int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a %b %e %H:%M:%S %Y", &tm);
  return text;
}

std::vector<std::string> content_lines(std::string_view bytes, const PostfixQueueFile& file) {
  std::vector<std::string> lines;
  const ContentLinesResult walked =
      for_each_content_line(bytes, file, [&](std::string_view line) { lines.emplace_back(line); });
  REQUIRE(walked.error == "");
  CHECK(walked.line_count == lines.size());
  return lines;
}

PostfixQueueFile parse_held(const std::string& name, std::string& bytes) {
  const QueueFileBytes loaded = read_queue_file(kHeldDir + "/" + name);
  REQUIRE(loaded.error == "");
  bytes = loaded.bytes;
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.error == "");
  return parsed.file;
}

// A small well-formed file: two recipients (one done), three content lines.
struct SyntheticFile {
  PostfixRecordWriter w;
  std::size_t recipients_end_pointer = 0;  // the dummy p after the last recipient
  std::size_t headers_end_pointer = 0;     // the dummy p after the last header
  std::size_t message_start = 0;           // the M record
  std::size_t separator = 0;               // the empty N between headers and body
};

SyntheticFile synthetic_file() {
  SyntheticFile f;
  f.w.add('T', "1795946358 182000");
  f.w.add('A', "create_time=1795946358");
  f.w.add('S', "sender@example.org");
  f.w.add('A', "notify_flags=6");
  f.w.add('A', "dsn_orig_rcpt=rfc822;first@example.net");
  f.w.add('O', "list@example.org");
  f.w.add('R', "first@example.net");
  f.w.add('D', "second@example.net");
  f.recipients_end_pointer = f.w.add_pointer(0);
  f.message_start = f.w.add('M');
  const std::size_t content_offset = f.w.size();
  f.w.add('N', "Subject: hi");
  f.headers_end_pointer = f.w.add_pointer(0);
  f.separator = f.w.add('N', "");
  f.w.add('N', "body");
  f.w.add_pointer(0);
  const std::size_t extracted = f.w.add('X');
  f.w.add_pointer(0);
  f.w.add('E');
  f.w.set_size(extracted - content_offset, content_offset, 2);
  return f;
}

std::vector<std::string> synthetic_lines(const std::string& bytes) {
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.error == "");
  return content_lines(bytes, parsed.file);
}

std::string parse_error(const std::string& bytes) {
  return parse_queue_file(bytes).error;
}

}  // namespace

TEST_CASE("every real held file parses to what postcat shows", "[postfix]") {
  for (const std::string& name : kHeldFiles) {
    INFO("held file " << name);
    std::string bytes;
    const PostfixQueueFile file = parse_held(name, bytes);
    const PostcatView postcat = parse_postcat(slurp(kHeldDir + "/" + name + ".postcat"));

    CHECK(fixed_fields(file.size) == postcat.message_size);
    CHECK(asctime_utc(file.arrival_seconds) == postcat.arrival);
    REQUIRE(postcat.sender_seen);
    CHECK(file.sender == postcat.sender);
    CHECK(file.envelope_id == postcat.envelope_id);
    CHECK((file.ret_flags == 0 ? "" : std::to_string(file.ret_flags)) == postcat.ret_flags);
    CHECK(file.encoding == postcat.encoding);
    std::vector<std::string> recipients;
    for (const PostfixRecipient& r : file.recipients)
      recipients.push_back(describe(r));
    CHECK(recipients == postcat.recipients);
    CHECK(content_lines(bytes, file) == postcat.content);
  }
}

TEST_CASE("real held files: what each one was made to cover", "[postfix]") {
  std::string bytes;
  SECTION("two recipients, folded header, lines starting with dots (not stuffed)") {
    const PostfixQueueFile file = parse_held("two_rcpt", bytes);
    REQUIRE(file.recipients.size() == 2);
    CHECK(file.recipients[1].address == "rcpt2@example.net");
    const std::vector<std::string> lines = content_lines(bytes, file);
    CHECK(std::find(lines.begin(), lines.end(), "\tsecond part") != lines.end());
    CHECK(std::find(lines.begin(), lines.end(), "..") != lines.end());
  }
  SECTION("a 5000-byte line stored as L fragments comes out as one line") {
    const PostfixQueueFile file = parse_held("long_line", bytes);
    const std::vector<std::string> lines = content_lines(bytes, file);
    REQUIRE(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.size() == 5000; }) == 1);
  }
  SECTION("BODY=8BITMIME and SMTPUTF8") {
    const PostfixQueueFile file = parse_held("utf8_8bit", bytes);
    CHECK(file.encoding == "8bit");
    CHECK(file.size.smtputf8_flags == 3);
    CHECK(file.recipients[0].address == "j\xc3\xb6rg@example.net");
  }
  SECTION("DSN ENVID, RET, NOTIFY and ORCPT") {
    const PostfixQueueFile file = parse_held("dsn", bytes);
    CHECK(file.envelope_id == "bulkq-envid-42");
    CHECK(file.ret_flags == dsn_ret::kHeaders);
    REQUIRE(file.recipients.size() == 1);
    CHECK(file.recipients[0].notify_flags == (dsn_notify::kSuccess | dsn_notify::kFailure));
    CHECK(file.recipients[0].dsn_orig_rcpt == "rfc822;orig-dsn@example.net");
  }
  SECTION("sendmail -t: recipients in the extracted segment, Bcc header gone") {
    const PostfixQueueFile file = parse_held("bcc_sendmail_t", bytes);
    REQUIRE(file.recipients.size() == 3);
    CHECK(file.recipients[2].address == "hidden@example.net");
    CHECK(file.recipients[2].extracted);
    for (const std::string& line : content_lines(bytes, file))
      CHECK(line.rfind("Bcc:", 0) != 0);
  }
  SECTION("a virtual alias expands to several O+R pairs") {
    const PostfixQueueFile file = parse_held("alias_expansion", bytes);
    REQUIRE(file.recipients.size() == 4);
    for (int i = 0; i < 3; ++i)
      CHECK(file.recipients[i].original_address == "team@example.org");
  }
  SECTION("the null sender") {
    const PostfixQueueFile file = parse_held("null_sender", bytes);
    CHECK(file.sender.empty());
  }
  SECTION("milter edits reached through p records in the heap after E") {
    const PostfixQueueFile file = parse_held("milter_edits", bytes);
    REQUIRE(file.recipients.size() == 2);
    CHECK(file.recipients[1].address == "added@example.net");
    // The p record to the new Subject overwrote the start of the old one; its tail remains.
    CHECK(bytes.find(" original subject") != std::string::npos);
    const std::vector<std::string> lines = content_lines(bytes, file);
    CHECK(lines.front() == "X-Inserted-By-Milter: inserted at the top");
    CHECK(std::find(lines.begin(), lines.end(), "Subject: subject changed by milter") !=
          lines.end());
    CHECK(std::find(lines.begin(), lines.end(), "Subject: milter original subject") == lines.end());
    const auto appended =
        std::find(lines.begin(), lines.end(), "X-Added-By-Milter: appended header");
    REQUIRE(appended != lines.end());
    CHECK(std::next(appended)->empty());  // the last header, right before the separator
  }
  SECTION("a recipient qmgr already delivered is a D record, reported done") {
    const PostfixQueueFile file = parse_held("done_recipient", bytes);
    REQUIRE(file.recipients.size() == 2);
    CHECK(file.recipients[0].done);
    CHECK(bytes[file.recipients[0].record_offset] == 'D');
    CHECK_FALSE(file.recipients[1].done);
    CHECK(bytes[file.recipients[1].record_offset] == 'R');
  }
}

TEST_CASE("a real held file cut at any byte is refused, never crashes", "[postfix]") {
  for (const std::string& name : kHeldFiles) {
    INFO("held file " << name);
    const std::string bytes = slurp(kHeldDir + "/" + name);
    REQUIRE(parse_queue_file(bytes).ok());
    std::size_t refused = 0;
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      const PostfixQueueFileResult parsed =
          parse_queue_file(std::string_view(bytes).substr(0, cut));
      if (!parsed.ok()) ++refused;
    }
    CHECK(refused == bytes.size());
  }
  const std::string one = slurp(kHeldDir + "/one_rcpt");
  CHECK_THAT(parse_error(one.substr(0, one.size() - 2)),
             Catch::StartsWith("truncated queue file: no end record"));
}

TEST_CASE("a real held file with any byte changed is parsed or refused, never crashes",
          "[postfix]") {
  for (const std::string& name : {std::string("milter_edits"), std::string("long_line")}) {
    const std::string original = slurp(kHeldDir + "/" + name);
    for (std::size_t at = 0; at < original.size(); ++at) {
      for (const char replacement : {'\0', '\x7f', '\xff', 'p', 'E', 'L', '1'}) {
        std::string bytes = original;
        bytes[at] = replacement;
        const PostfixQueueFileResult parsed = parse_queue_file(bytes);
        if (!parsed.ok()) continue;
        std::size_t lines = 0;
        const ContentLinesResult walked =
            for_each_content_line(bytes, parsed.file, [&](std::string_view) { ++lines; });
        if (!walked.ok()) FAIL("offset " << at << ": content walk failed: " << walked.error);
      }
    }
  }
}

TEST_CASE("record lengths are base-128 varints, least significant group first", "[postfix]") {
  using bulkq::testing::postfix_record_length;
  CHECK(postfix_record_length(0) == std::string("\x00", 1));
  CHECK(postfix_record_length(100) == "\x64");
  CHECK(postfix_record_length(127) == "\x7f");
  CHECK(postfix_record_length(128) == "\x80\x01");
  CHECK(postfix_record_length(200) == "\xc8\x01");
  CHECK(postfix_record_length(904) == "\x88\x07");
  CHECK(postfix_record_length(2048) == "\x80\x10");

  for (const std::size_t length : {0, 1, 127, 128, 904, 2048, 16383, 16384, 100000}) {
    INFO("length " << length);
    const std::string record = bulkq::testing::postfix_record('N', std::string(length, 'x'));
    const QueueRecordResult decoded = decode_queue_record(record, 0);
    REQUIRE(decoded.error == "");
    CHECK(decoded.record.type == 'N');
    CHECK(decoded.record.data.size() == length);
    CHECK(decoded.record.next_offset == record.size());
    CHECK(decode_queue_record(std::string_view(record).substr(0, record.size() - 1), 0).error !=
          "");
  }
  // Postfix accepts a length spelled with more bytes than needed, up to five.
  CHECK(decode_queue_record(std::string("N\x80\x80\x80\x80\x00", 6), 0).ok());
  CHECK_THAT(decode_queue_record(std::string("N\x80\x80\x80\x80\x80\x00", 7), 0).error,
             Catch::Contains("offset 0") && Catch::Contains("longer than 5 bytes"));
  CHECK_THAT(decode_queue_record(std::string("N\x81\x80\x40", 4), 0).error,
             Catch::Contains("exceeds the limit"));
  CHECK_THAT(decode_queue_record(std::string("N\x85", 2), 0).error,
             Catch::Contains("length field runs past the end"));
  CHECK_THAT(decode_queue_record("N\x05"
                                 "abc",
                                 0)
                 .error,
             Catch::Contains("length 5 runs past the end of the file (size 5)"));
  CHECK(decode_queue_record("", 0).error != "");
}

TEST_CASE("a synthetic file: envelope, done recipient and DSN data", "[postfix]") {
  const SyntheticFile f = synthetic_file();
  const PostfixQueueFileResult parsed = parse_queue_file(f.w.bytes());
  REQUIRE(parsed.error == "");
  const PostfixQueueFile& file = parsed.file;
  CHECK(file.arrival_seconds == 1795946358);
  CHECK(file.arrival_microseconds == 182000);
  CHECK(file.sender == "sender@example.org");
  REQUIRE(file.recipients.size() == 2);
  CHECK(describe(file.recipients[0]) ==
        "todo list@example.org -> first@example.net notify=6 orcpt=rfc822;first@example.net");
  CHECK(describe(file.recipients[1]) == "done  -> second@example.net notify=0 orcpt=");
  CHECK(file.content_start == f.message_start + 2);
  CHECK(file.size.recipient_count == 2);
  CHECK(synthetic_lines(f.w.bytes()) == std::vector<std::string>{"Subject: hi", "", "body"});
}

TEST_CASE("cancelled and killed records drop what preceded them", "[postfix]") {
  PostfixRecordWriter w;
  w.add('T', "1 0");
  w.add('S', "");
  w.add('O', "cancelled-orig@example.net");
  w.add('/', "cancelled@example.net");
  w.add('A', "notify_flags=1");
  w.add('K', "killed");
  w.add('R', "kept@example.net");
  w.add('M');
  const std::size_t content = w.size();
  w.add('N', "");
  w.add('X');
  w.add('E');
  w.set_size(2, content, 1);
  const PostfixQueueFileResult parsed = parse_queue_file(w.bytes());
  REQUIRE(parsed.error == "");
  REQUIRE(parsed.file.recipients.size() == 1);
  CHECK(describe(parsed.file.recipients[0]) == "todo  -> kept@example.net notify=0 orcpt=");
  CHECK(parsed.file.sender.empty());
}

TEST_CASE("p records: chains into the heap after E and back", "[postfix]") {
  SyntheticFile f = synthetic_file();
  // A header appended after the last one, reached through a chain of two pointers.
  const std::size_t first_hop = f.w.add_pointer(0);
  const std::size_t header = f.w.add('N', "X-Added: by milter");
  f.w.add_pointer(f.separator);
  f.w.patch_pointer(first_hop, header);
  f.w.patch_pointer(f.headers_end_pointer, first_hop);
  // A recipient appended after the last one, with a padding record on the way.
  const std::size_t added = f.w.add('w', "0");
  f.w.add('O', "added@example.net");
  f.w.add('R', "added@example.net");
  f.w.add_pointer(f.message_start);
  f.w.patch_pointer(f.recipients_end_pointer, added);

  const PostfixQueueFileResult parsed = parse_queue_file(f.w.bytes());
  REQUIRE(parsed.error == "");
  REQUIRE(parsed.file.recipients.size() == 3);
  CHECK(parsed.file.recipients[2].address == "added@example.net");
  CHECK(synthetic_lines(f.w.bytes()) ==
        std::vector<std::string>{"Subject: hi", "X-Added: by milter", "", "body"});
}

TEST_CASE("p records: loops, targets outside the file and bad data are errors", "[postfix]") {
  SECTION("a pointer to itself") {
    SyntheticFile f = synthetic_file();
    f.w.patch_pointer(f.headers_end_pointer, f.headers_end_pointer);
    CHECK_THAT(parse_error(f.w.bytes()), Catch::Contains("pointer loop"));
  }
  SECTION("a loop through the heap: forward, then back before the start") {
    SyntheticFile f = synthetic_file();
    const std::size_t heap = f.w.add('N', "X-Loop: 1");
    f.w.add_pointer(f.headers_end_pointer);
    f.w.patch_pointer(f.headers_end_pointer, heap);
    CHECK_THAT(parse_error(f.w.bytes()), Catch::Contains("pointer loop"));
  }
  SECTION("a loop of forward-looking pointers is still caught") {
    SyntheticFile f = synthetic_file();
    const std::size_t a = f.w.add_pointer(0);
    const std::size_t b = f.w.add_pointer(0);
    f.w.patch_pointer(a, b);
    f.w.patch_pointer(b, a);
    f.w.patch_pointer(f.recipients_end_pointer, a);
    CHECK_THAT(parse_error(f.w.bytes()), Catch::Contains("pointer loop"));
  }
  SECTION("a pointer past the end of the file") {
    SyntheticFile f = synthetic_file();
    f.w.patch_pointer(f.recipients_end_pointer, f.w.size());
    CHECK_THAT(parse_error(f.w.bytes()),
               Catch::Contains("offset " + std::to_string(f.recipients_end_pointer)) &&
                   Catch::Contains("outside the file"));
  }
  SECTION("pointer data that is not a decimal offset") {
    PostfixRecordWriter w;
    w.add('T', "1 0");
    const std::size_t bad = w.add('p', "  12x");
    w.add('E');
    CHECK_THAT(parse_error(w.bytes()), Catch::Contains("offset " + std::to_string(bad) +
                                                       ": malformed p record data \"  12x\""));
  }
}

TEST_CASE("record types that are unknown or out of place are errors", "[postfix]") {
  SECTION("unknown type") {
    SyntheticFile f = synthetic_file();
    std::string bytes = f.w.bytes();
    bytes[f.message_start] = 'Z';
    CHECK(parse_error(bytes) ==
          "offset " + std::to_string(f.message_start) + ": unknown record type 'Z'");
    bytes[f.message_start] = '\x01';
    CHECK_THAT(parse_error(bytes), Catch::EndsWith("unknown record type 0x01"));
  }
  SECTION("content in the envelope") {
    PostfixRecordWriter w;
    w.add('T', "1 0");
    w.add('N', "early");
    CHECK_THAT(parse_error(w.bytes()),
               Catch::Contains("record type 'N' is out of place in the envelope segment"));
  }
  SECTION("a recipient in the content") {
    SyntheticFile f = synthetic_file();
    std::string bytes = f.w.bytes();
    bytes[f.separator] = 'R';
    CHECK_THAT(parse_error(bytes),
               Catch::Contains("record type 'R' is out of place in the message content segment"));
  }
  SECTION("E before the content") {
    PostfixRecordWriter w;
    w.add('T', "1 0");
    w.add('S', "s@example.org");
    w.add('E');
    CHECK_THAT(parse_error(w.bytes()), Catch::Contains("out of place in the envelope segment"));
  }
  SECTION("no sender or no arrival time") {
    PostfixRecordWriter w;
    w.add('T', "1 0");
    w.add('M');
    CHECK_THAT(parse_error(w.bytes()), Catch::Contains("envelope has no S sender"));
    PostfixRecordWriter v;
    v.add('S', "");
    v.add('M');
    CHECK_THAT(parse_error(v.bytes()), Catch::Contains("envelope has no T arrival time"));
  }
}

TEST_CASE("the C size record must come first and hold decimals", "[postfix]") {
  CHECK(parse_error("") == "empty queue file");
  CHECK_THAT(parse_error(bulkq::testing::postfix_record('T', "1 0")),
             Catch::Contains("expected the C size record: not a Postfix queue file"));
  const auto with_size = [](std::string_view data) {
    return parse_error(bulkq::testing::postfix_record('C', data) +
                       bulkq::testing::postfix_record('E', ""));
  };
  CHECK_THAT(with_size("  12  3x  1"), Catch::Contains("bad C size record") &&
                                           Catch::Contains("field 2 is not a decimal number"));
  CHECK_THAT(with_size("1 2"), Catch::Contains("2 fields, expected 6"));
  CHECK_THAT(with_size("1 2 3 4 5 6 7"), Catch::Contains("more than 6 fields"));
  CHECK_THAT(with_size("1 -2 3"), Catch::Contains("field 2 is not a decimal number"));
  CHECK_THAT(with_size("1 9999 3"), Catch::Contains("content offset 9999 is outside the file"));

  SyntheticFile f = synthetic_file();
  std::string bytes = f.w.bytes();
  bytes[f.separator] = 'C';
  CHECK_THAT(parse_error(bytes), Catch::Contains("record type 'C' is out of place"));
}

TEST_CASE("the T record is \"seconds microseconds\"", "[postfix]") {
  for (const std::string_view bad : {"", "x", "1 2 3", "1 1000000", "-1 0"}) {
    PostfixRecordWriter w;
    w.add('T', bad);
    CHECK_THAT(parse_error(w.bytes()), Catch::Contains("bad T arrival time record"));
  }
}

TEST_CASE("L fragments join up to and including the next N; one N is a view", "[postfix]") {
  PostfixRecordWriter w;
  w.add('T', "1 0");
  w.add('S', "s@example.org");
  w.add('M');
  const std::size_t content = w.size();
  const std::size_t single = w.add('N', "single");
  w.add('L', "ab");
  w.add('L', "cd");
  w.add('N', "ef");
  w.add('L', "unterminated");
  w.add('X');
  w.add('E');
  w.set_size(10, content, 0);
  const std::string& bytes = w.bytes();
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.error == "");

  ContentCursor cursor(bytes, parsed.file);
  REQUIRE(cursor.next());
  CHECK(cursor.line() == "single");
  CHECK(cursor.line().data() == bytes.data() + single + 2);  // no copy
  REQUIRE(cursor.next());
  CHECK(cursor.line() == "abcdef");
  REQUIRE(cursor.next());
  CHECK(cursor.line() == "unterminated");
  CHECK_FALSE(cursor.next());
  CHECK_FALSE(cursor.next());
  CHECK(cursor.error() == "");
}

TEST_CASE("a missing E record means the file is incomplete", "[postfix]") {
  SyntheticFile f = synthetic_file();
  const std::string bytes = f.w.bytes().substr(0, f.w.size() - 2);
  CHECK(parse_error(bytes) ==
        "truncated queue file: no end record (reached the end of the file at offset " +
            std::to_string(bytes.size()) + ")");
}

TEST_CASE("read_queue_file loads bytes or says why not", "[postfix]") {
  const QueueFileBytes real = read_queue_file(kHeldDir + "/two_rcpt");
  REQUIRE(real.error == "");
  CHECK(real.bytes == slurp(kHeldDir + "/two_rcpt"));

  CHECK(read_queue_file("/nonexistent/hold/ABC").error ==
        "cannot open /nonexistent/hold/ABC: No such file or directory");
  const bulkq::testing::TempDir dir;
  CHECK(read_queue_file(dir.path()).error == dir.path() + " is not a regular file");
  const std::string path = dir.write("big", std::string(100, 'x'));
  CHECK(read_queue_file(path, 100).ok());
  CHECK(read_queue_file(path, 99).error ==
        path + " is larger than the limit of 99 bytes for a queue file");
  CHECK(read_queue_file(dir.write("empty", "")).bytes.empty());
}
