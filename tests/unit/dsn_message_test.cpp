#include "delivery/dsn_message.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

using Lines = std::vector<std::string>;
using Fields = std::multimap<std::string, std::string>;

TimePoint at(std::chrono::sys_days day, std::chrono::seconds time_of_day) {
  return std::chrono::time_point_cast<Duration>(day + time_of_day);
}

const TimePoint kArrival =
    at(std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 24},
       std::chrono::hours(9) + std::chrono::minutes(5));
const TimePoint kNow =
    at(std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 29},
       std::chrono::hours(14) + std::chrono::minutes(16) + std::chrono::seconds(26));

// Header block (up to the first empty line, or the end) unfolded into name → value.
Fields parse_fields(const Lines& lines, std::size_t& pos) {
  Fields fields;
  std::string name;
  std::string value;
  const auto flush = [&] {
    if (!name.empty()) fields.emplace(name, value);
    name.clear();
  };
  for (; pos < lines.size() && !lines[pos].empty(); ++pos) {
    const std::string& line = lines[pos];
    if (line[0] == ' ' || line[0] == '\t') {
      REQUIRE_FALSE(name.empty());
      value += line;  // unfolding removes only the line break
      continue;
    }
    flush();
    const auto colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  }
  flush();
  if (pos < lines.size()) ++pos;  // the empty line
  return fields;
}

std::string field(const Fields& fields, const std::string& name) {
  const auto it = fields.find(name);
  return it == fields.end() ? std::string("<absent>") : it->second;
}

struct Part {
  Fields headers;
  Lines body;
};

struct ParsedDsn {
  Fields headers;
  std::string boundary;
  std::vector<Part> parts;
  bool closed = false;
};

ParsedDsn parse(const Lines& lines) {
  ParsedDsn dsn;
  std::size_t pos = 0;
  dsn.headers = parse_fields(lines, pos);
  const std::string type = field(dsn.headers, "Content-Type");
  const auto b = type.find("boundary=\"");
  REQUIRE(b != std::string::npos);
  const auto start = b + 10;
  dsn.boundary = type.substr(start, type.find('"', start) - start);
  REQUIRE(!dsn.boundary.empty());
  REQUIRE(dsn.boundary.size() <= 70);  // RFC 2046
  const std::string delimiter = "--" + dsn.boundary;
  Lines* body = nullptr;
  for (; pos < lines.size(); ++pos) {
    if (lines[pos] == delimiter + "--") {
      dsn.closed = true;
      REQUIRE(pos + 1 == lines.size());
      break;
    }
    if (lines[pos] == delimiter) {
      ++pos;
      Part part;
      part.headers = parse_fields(lines, pos);
      --pos;
      dsn.parts.push_back(std::move(part));
      body = &dsn.parts.back().body;
      continue;
    }
    if (body != nullptr) body->push_back(lines[pos]);
  }
  // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
  for (Part& part : dsn.parts) {
    if (!part.body.empty() && part.body.back().empty()) part.body.pop_back();
  }
  return dsn;
}

// The delivery-status body as groups of fields: the per-message group, then one per recipient.
std::vector<Fields> field_groups(const Lines& body) {
  std::vector<Fields> groups;
  std::size_t pos = 0;
  while (pos < body.size())
    groups.push_back(parse_fields(body, pos));
  return groups;
}

void check_lines_are_safe(const Lines& lines) {
  for (const std::string& line : lines) {
    INFO(line.substr(0, 80));
    CHECK(line.size() <= 998);
    for (const char ch : line) {
      const auto c = static_cast<unsigned char>(ch);
      CHECK_FALSE(((c < 0x20 && c != '\t') || c == 0x7f));
    }
  }
}

DsnInput sample_input() {
  DsnInput input;
  input.sender = "news@sender.test";
  input.queue_id = "4jcjNh4glqz1bYM2";
  input.reporting_host = "mail.sender.test";
  input.arrival = kArrival;
  input.now = kNow;
  input.boundary_seed = 12345;

  DsnRecipient unknown;
  unknown.final_recipient = "nobody@b.test";
  unknown.original_recipient = "NoBody@b.test";
  unknown.action = DsnAction::failed;
  unknown.status = {5, 1, 1};
  unknown.remote_mta = "mx.b.test";
  unknown.diagnostic = "550 5.1.1 <nobody@b.test>: Recipient address rejected";
  unknown.reason =
      "host mx.b.test[127.0.0.5] said: 550 5.1.1 <nobody@b.test>: Recipient address rejected "
      "(in reply to RCPT TO command)";
  unknown.last_attempt = kNow - std::chrono::minutes(1);
  input.recipients.push_back(unknown);

  DsnRecipient expired;
  expired.final_recipient = "x@c.test\r\nBcc: evil@c.test";  // hostile bytes never split a line
  expired.action = DsnAction::failed;
  expired.status = {5, 4, 7};
  expired.reason = "message expired in queue; last failure: connect: Connection refused";
  input.recipients.push_back(expired);

  input.original_headers = {
      "Received: from client.test (client.test [127.0.0.9])",
      "\tby mail.sender.test (Postfix) with ESMTP id 4jcjNh4glqz1bYM2",
      "From: News <news@sender.test>",
      "Subject: Weekly news",
      "",
      "body line that must not appear",
  };
  return input;
}

}  // namespace

TEST_CASE("a DSN parses back into its three parts with the right fields", "[delivery]") {
  const DsnMessage dsn = compose_dsn(sample_input());
  REQUIRE(dsn.ok());
  check_lines_are_safe(dsn.lines);
  const ParsedDsn parsed = parse(dsn.lines);

  CHECK(field(parsed.headers, "From") == "MAILER-DAEMON@mail.sender.test (Mail Delivery System)");
  CHECK(field(parsed.headers, "To") == "<news@sender.test>");
  CHECK(field(parsed.headers, "Subject") == "Undelivered Mail Returned to Sender");
  CHECK(field(parsed.headers, "Auto-Submitted") == "auto-replied");
  CHECK(field(parsed.headers, "Date") == "Sun, 29 Nov 2026 14:16:26 +0000");
  CHECK(field(parsed.headers, "MIME-Version") == "1.0");
  CHECK(field(parsed.headers, "Content-Transfer-Encoding") == "7bit");
  const std::string message_id = field(parsed.headers, "Message-ID");
  CHECK(message_id.rfind("<20261129141626.4jcjNh4glqz1bYM2.", 0) == 0);
  CHECK(message_id.size() > 20);
  CHECK(message_id.substr(message_id.size() - 18) == "@mail.sender.test>");
  CHECK(field(parsed.headers, "Content-Type")
            .rfind("multipart/report; report-type=delivery-status; boundary=\"", 0) == 0);
  CHECK(parsed.closed);

  REQUIRE(parsed.parts.size() == 3);
  CHECK(field(parsed.parts[0].headers, "Content-Type") == "text/plain; charset=us-ascii");
  CHECK(field(parsed.parts[1].headers, "Content-Type") == "message/delivery-status");
  CHECK(field(parsed.parts[2].headers, "Content-Type") == "text/rfc822-headers");

  // Human-readable part: Postfix's wording and one paragraph per recipient.
  const Lines& human = parsed.parts[0].body;
  REQUIRE_FALSE(human.empty());
  CHECK(human[0] == "This is the mail system at host mail.sender.test.");
  bool mentions_unknown = false;
  for (const std::string& line : human) {
    CHECK(line.size() <= 78);
    if (line.rfind("<nobody@b.test>: host mx.b.test[127.0.0.5] said: 550 5.1.1", 0) == 0) {
      mentions_unknown = true;
    }
  }
  CHECK(mentions_unknown);

  // Delivery-status part: one per-message group, then one group per recipient, in order.
  const std::vector<Fields> groups = field_groups(parsed.parts[1].body);
  REQUIRE(groups.size() == 3);
  CHECK(field(groups[0], "Reporting-MTA") == "dns; mail.sender.test");
  CHECK(field(groups[0], "Arrival-Date") == "Tue, 24 Nov 2026 09:05:00 +0000");
  CHECK(field(groups[0], "X-Queue-ID") == "4jcjNh4glqz1bYM2");

  CHECK(field(groups[1], "Final-Recipient") == "rfc822; nobody@b.test");
  CHECK(field(groups[1], "Original-Recipient") == "rfc822; NoBody@b.test");
  CHECK(field(groups[1], "Action") == "failed");
  CHECK(field(groups[1], "Status") == "5.1.1");
  CHECK(field(groups[1], "Remote-MTA") == "dns; mx.b.test");
  CHECK(field(groups[1], "Diagnostic-Code") ==
        "smtp; 550 5.1.1 <nobody@b.test>: Recipient address rejected");
  CHECK(field(groups[1], "Last-Attempt-Date") == "Sun, 29 Nov 2026 14:15:26 +0000");

  CHECK(field(groups[2], "Final-Recipient") == "rfc822; x@c.test Bcc: evil@c.test");
  CHECK(field(groups[2], "Original-Recipient") == "<absent>");
  CHECK(field(groups[2], "Status") == "5.4.7");
  CHECK(field(groups[2], "Remote-MTA") == "<absent>");
  CHECK(field(groups[2], "Diagnostic-Code") == "<absent>");
  CHECK(field(groups[2], "Last-Attempt-Date") == "<absent>");
  CHECK(groups[2].count("Bcc") == 0);

  // Original headers, up to the body.
  const Lines expected_headers = {
      "Received: from client.test (client.test [127.0.0.9])",
      "\tby mail.sender.test (Postfix) with ESMTP id 4jcjNh4glqz1bYM2",
      "From: News <news@sender.test>",
      "Subject: Weekly news",
  };
  CHECK(parsed.parts[2].body == expected_headers);
}

TEST_CASE("a message from the null sender gets no DSN", "[delivery]") {
  DsnInput input = sample_input();
  input.sender.clear();
  const DsnMessage dsn = compose_dsn(input);
  CHECK_FALSE(dsn.ok());
  CHECK(dsn.refusal == DsnRefusal::null_sender);
  CHECK(dsn.lines.empty());
  CHECK(to_string(dsn.refusal) == "no DSN for <>");
}

TEST_CASE("a DSN is refused without recipients or a usable host name", "[delivery]") {
  struct Case {
    std::string host;
    bool recipients;
    DsnRefusal refusal;
  };
  const std::vector<Case> cases = {
      {"mail.sender.test", false, DsnRefusal::no_recipients},
      {"", true, DsnRefusal::bad_reporting_host},
      {"mail.sender.test>\r\nBcc: x", true, DsnRefusal::bad_reporting_host},
      {std::string(254, 'a'), true, DsnRefusal::bad_reporting_host},
      {"mail.sender.test", true, DsnRefusal::none},
  };
  for (const Case& c : cases) {
    INFO(c.host.substr(0, 40));
    DsnInput input = sample_input();
    input.reporting_host = c.host;
    if (!c.recipients) input.recipients.clear();
    const DsnMessage dsn = compose_dsn(input);
    CHECK(dsn.refusal == c.refusal);
    CHECK(dsn.lines.empty() == (c.refusal != DsnRefusal::none));
  }
}

TEST_CASE("long diagnostics are folded and no DSN line passes 998 bytes", "[delivery]") {
  DsnInput input = sample_input();
  std::string words;
  for (int i = 0; i < 300; ++i)
    words += "word" + std::to_string(i) + " ";
  input.recipients[0].diagnostic = "550 5.7.1 " + words;
  input.recipients[1].diagnostic = "554 " + std::string(2500, 'x');  // one unbreakable word
  input.recipients[1].reason = std::string(3000, 'y');
  input.original_headers = {"X-Long: " + std::string(3000, 'h'), "Subject: short"};

  const DsnMessage dsn = compose_dsn(input);
  REQUIRE(dsn.ok());
  check_lines_are_safe(dsn.lines);
  const ParsedDsn parsed = parse(dsn.lines);
  REQUIRE(parsed.parts.size() == 3);
  const std::vector<Fields> groups = field_groups(parsed.parts[1].body);
  REQUIRE(groups.size() == 3);
  // Folding at spaces loses nothing: unfolded, the value is the text as given.
  std::string expected = "smtp; 550 5.7.1 " + words;
  expected.pop_back();  // the trailing space is trimmed
  CHECK(field(groups[1], "Diagnostic-Code") == expected);
  // An unbreakable word is cut at 998 bytes; all its bytes survive.
  const std::string cut = field(groups[2], "Diagnostic-Code");
  std::string xs;
  for (const char c : cut) {
    if (c == 'x') xs += c;
  }
  CHECK(xs.size() == 2500);
  // Folded lines stay near 78 bytes where the value has spaces.
  for (const std::string& line : parsed.parts[1].body) {
    if (line.find("word") != std::string::npos) CHECK(line.size() <= 78);
  }
  // The long original header is continued on space-led lines.
  const Lines& headers = parsed.parts[2].body;
  REQUIRE(headers.size() == 5);
  CHECK(headers[0].size() == 998);
  CHECK(headers[1][0] == ' ');
  CHECK(headers[4] == "Subject: short");
}

TEST_CASE("the DSN is deterministic and its boundary avoids the content", "[delivery]") {
  const DsnInput input = sample_input();
  const DsnMessage a = compose_dsn(input);
  const DsnMessage b = compose_dsn(input);
  CHECK(a.lines == b.lines);

  DsnInput reseeded = input;
  reseeded.boundary_seed = 54321;
  CHECK(parse(compose_dsn(reseeded).lines).boundary != parse(a.lines).boundary);

  // An original header that happens to start with the boundary forces another one.
  const std::string boundary = parse(a.lines).boundary;
  DsnInput hostile = input;
  hostile.original_headers.insert(hostile.original_headers.begin(), "--" + boundary);
  const DsnMessage c = compose_dsn(hostile);
  const ParsedDsn parsed = parse(c.lines);
  CHECK(parsed.boundary != boundary);
  REQUIRE(parsed.parts.size() == 3);
  CHECK(parsed.parts[2].body.front() == "--" + boundary);
}

TEST_CASE("8-bit original headers are declared, control bytes removed", "[delivery]") {
  DsnInput input = sample_input();
  input.original_headers = {
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e",
      std::string("X-Bad: a\0b\rc", 12)};
  const DsnMessage dsn = compose_dsn(input);
  REQUIRE(dsn.ok());
  check_lines_are_safe(dsn.lines);
  const ParsedDsn parsed = parse(dsn.lines);
  CHECK(field(parsed.headers, "Content-Transfer-Encoding") == "8bit");
  REQUIRE(parsed.parts.size() == 3);
  CHECK(field(parsed.parts[2].headers, "Content-Transfer-Encoding") == "8bit");
  CHECK(parsed.parts[2].body[1] == "X-Bad: a b c");
}

TEST_CASE("a DSN with only delayed recipients is a warning", "[delivery]") {
  DsnInput input = sample_input();
  input.recipients.resize(1);
  input.recipients[0].action = DsnAction::delayed;
  input.recipients[0].status = {4, 4, 1};
  const DsnMessage dsn = compose_dsn(input);
  REQUIRE(dsn.ok());
  const ParsedDsn parsed = parse(dsn.lines);
  CHECK(field(parsed.headers, "Subject") == "Delayed Mail (still being retried)");
  const std::vector<Fields> groups = field_groups(parsed.parts[1].body);
  REQUIRE(groups.size() == 2);
  CHECK(field(groups[1], "Action") == "delayed");
  CHECK(field(groups[1], "Status") == "4.4.1");
}

TEST_CASE("DSN helpers: dates, folding, CRLF", "[delivery]") {
  CHECK(rfc5322_date(kNow) == "Sun, 29 Nov 2026 14:16:26 +0000");
  CHECK(rfc5322_date(TimePoint{}) == "Thu, 1 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(at(std::chrono::sys_days{std::chrono::year{2024} / 2 / 29},
                        std::chrono::seconds(86399))) == "Thu, 29 Feb 2024 23:59:59 +0000");

  CHECK(fold_field("Status", "5.1.1") == Lines{"Status: 5.1.1"});
  CHECK(fold_field("Empty", "") == Lines{"Empty:"});
  const Lines folded =
      fold_field("Diagnostic-Code", std::string(70, 'a') + " " + std::string(70, 'b') + " c");
  CHECK(folded ==
        Lines{"Diagnostic-Code: " + std::string(70, 'a'), " " + std::string(70, 'b') + " c"});

  CHECK(join_crlf({"a", "", "b"}) == "a\r\n\r\nb\r\n");
  CHECK(join_crlf({}).empty());
}
