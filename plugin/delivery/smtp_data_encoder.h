// SmtpDataEncoder: message lines → the bytes sent after DATA (RFC 5321 §4.5.2), streamed.
//
// Lines come from the spool reader one at a time, WITHOUT line endings; each goes out with CRLF
// and a leading '.' doubled (dot-stuffing), and finish() adds the ".\r\n" terminator. The encoder
// keeps no copy of the message: only counters, so it never holds more than the line in hand.
//
// Bare CR and LF inside a line (spool files can hold them; RFC 5321 §2.3.8 forbids them on the
// wire) are never sent bare: each one — and a CR LF pair inside a line, taken as one — ends the
// line there, and what follows is a new line, dot-stuffed in its own right. So every line ending
// on the wire is CRLF, and "\n.\n" or "\r.\r" in a message cannot end the DATA early or smuggle a
// second message (the "SMTP smuggling" attacks of 2023). One CR at the very end of a line is the
// rest of a CRLF line ending the reader did not strip, and is dropped, not doubled into an empty
// line.
//
// Lines are not wrapped: a line over RFC 5321's 998 bytes goes out as it is (wrapping would
// change the message and break DKIM signatures); the caller may check and decide.
//
// One encoder per DATA transfer, used by the thread that streams it (the connection's event-loop
// thread). No I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bulkq {

class SmtpDataEncoder {
 public:
  // Appends `line` (no line ending) to `out` as one or more dot-stuffed CRLF lines.
  void append_line(std::string_view line, std::string& out);

  // Appends the end-of-data line ".\r\n". Call once, after the last line.
  void finish(std::string& out);

  // Bytes appended to the `out`s so far: dot-stuffing and the terminator included.
  [[nodiscard]] std::uint64_t wire_bytes() const { return wire_bytes_; }
  // The message size as RFC 1870 SIZE counts it: the lines with CRLF endings, without
  // dot-stuffing and without the terminator.
  [[nodiscard]] std::uint64_t message_bytes() const { return message_bytes_; }
  // CRLF lines written, the terminator not counted.
  [[nodiscard]] std::uint64_t lines_written() const { return lines_written_; }

 private:
  void append_wire_line(std::string_view line, std::string& out);

  std::uint64_t wire_bytes_ = 0;
  std::uint64_t message_bytes_ = 0;
  std::uint64_t lines_written_ = 0;
};

}  // namespace bulkq
