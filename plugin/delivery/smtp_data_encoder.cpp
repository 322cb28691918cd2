// Dot-stuffing and CRLF for DATA: see smtp_data_encoder.h.
#include "delivery/smtp_data_encoder.h"

namespace bulkq {

void SmtpDataEncoder::append_line(std::string_view line, std::string& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  for (;;) {
    const std::size_t line_break = line.find_first_of("\r\n");
    if (line_break == std::string_view::npos) {
      append_wire_line(line, out);
      return;
    }
    append_wire_line(line.substr(0, line_break), out);
    // CR LF inside a line is one break, not two.
    const bool crlf =
        line[line_break] == '\r' && line_break + 1 < line.size() && line[line_break + 1] == '\n';
    line.remove_prefix(line_break + (crlf ? 2 : 1));
  }
}

void SmtpDataEncoder::append_wire_line(std::string_view line, std::string& out) {
  const bool stuffed = !line.empty() && line.front() == '.';
  if (stuffed) out += '.';
  out.append(line);
  out.append("\r\n");
  message_bytes_ += line.size() + 2;
  wire_bytes_ += line.size() + 2 + (stuffed ? 1 : 0);
  ++lines_written_;
}

void SmtpDataEncoder::finish(std::string& out) {
  out.append(".\r\n");
  wire_bytes_ += 3;
}

}  // namespace bulkq
