// SmtpDataEncoder: dot-stuffing, CRLF, bare CR/LF inside lines, and the byte counts.
#include "delivery/smtp_data_encoder.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace bulkq;

TEST_CASE("each line is dot-stuffed and ends in CRLF", "[delivery][data]") {
  struct Case {
    std::string line;
    std::string wire;
  };
  const std::vector<Case> cases = {
      {"", "\r\n"},
      {"Hello", "Hello\r\n"},
      {".", "..\r\n"},
      {"..", "...\r\n"},
      {".x", "..x\r\n"},
      {"x.", "x.\r\n"},
      {" .", " .\r\n"},
      // Bare CR or LF inside a line ends the line there; the next part is stuffed on its own.
      {"a\rb", "a\r\nb\r\n"},
      {"a\nb", "a\r\nb\r\n"},
      {"a\r\nb", "a\r\nb\r\n"},  // a CR LF pair inside a line is one break
      {"a\n\rb", "a\r\n\r\nb\r\n"},
      {"a\r\rb", "a\r\n\r\nb\r\n"},
      {"a\n.\nb", "a\r\n..\r\nb\r\n"},  // the SMTP smuggling shape cannot end the data
      {"a\r.\r", "a\r\n..\r\n"},
      {"\r.", "\r\n..\r\n"},
      // One trailing CR is the rest of a CRLF ending, not a line break.
      {"a\r", "a\r\n"},
      {".\r", "..\r\n"},
      {"\r", "\r\n"},
      {"a\r\r", "a\r\n\r\n"},
      {"a\n", "a\r\n\r\n"},
      {std::string("nul\0byte", 8), std::string("nul\0byte\r\n", 10)},
  };
  for (const Case& c : cases) {
    INFO(c.line);
    SmtpDataEncoder encoder;
    std::string out;
    encoder.append_line(c.line, out);
    CHECK(out == c.wire);
    CHECK(encoder.wire_bytes() == out.size());
  }
}

TEST_CASE("a whole message, its terminator and its sizes", "[delivery][data]") {
  SmtpDataEncoder encoder;
  std::string out = "already buffered ";
  for (const std::string_view line : {"Subject: hi", "", ".", "body", "..end"}) {
    encoder.append_line(line, out);
  }
  encoder.finish(out);
  const std::string wire = "Subject: hi\r\n\r\n..\r\nbody\r\n...end\r\n.\r\n";
  CHECK(out == "already buffered " + wire);
  CHECK(encoder.wire_bytes() == wire.size());
  // SIZE counts the message with CRLF endings, before stuffing, without the terminator.
  CHECK(encoder.message_bytes() == std::string("Subject: hi\r\n\r\n.\r\nbody\r\n..end\r\n").size());
  CHECK(encoder.lines_written() == 5);

  SmtpDataEncoder empty;
  std::string empty_out;
  empty.finish(empty_out);
  CHECK(empty_out == ".\r\n");
  CHECK(empty.wire_bytes() == 3);
  CHECK(empty.message_bytes() == 0);
}

TEST_CASE("no encoded message has a bare CR or LF or an early terminator", "[delivery][data]") {
  // Every pair of these pieces as one line: the output must be CRLF-clean and end only at the end.
  const std::vector<std::string> pieces = {"",     ".",    "a",   "\r",   "\n",
                                           "\r\n", "\n\r", ".\r", "\r.\n"};
  for (const std::string& a : pieces) {
    for (const std::string& b : pieces) {
      for (const std::string& c : pieces) {
        SmtpDataEncoder encoder;
        std::string out;
        encoder.append_line(a + b + c, out);
        encoder.finish(out);
        INFO("line " << a + b + c);
        for (std::size_t i = 0; i < out.size(); ++i) {
          if (out[i] == '\r') REQUIRE((i + 1 < out.size() && out[i + 1] == '\n'));
          if (out[i] == '\n') REQUIRE((i > 0 && out[i - 1] == '\r'));
        }
        const std::size_t terminator = out.find("\r\n.\r\n");
        const bool only_at_end = terminator == std::string::npos || terminator + 5 == out.size();
        CHECK(only_at_end);
        CHECK((out.rfind(".\r\n", 0) != 0 || out == ".\r\n"));
      }
    }
  }
}
