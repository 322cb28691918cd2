// SmtpReplyParser: see smtp_reply.h. One connection's thread; pure apart from its own buffers.
#include "delivery/smtp_reply.h"

#include <utility>

#include "core/quoted_text.h"

namespace bulkq {
namespace {

// How much of an offending line an error message shows.
constexpr std::size_t kErrorExcerptBytes = 64;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads 1..3 digits at `pos`; the value, or nullopt. Advances `pos` past them.
std::optional<std::uint16_t> read_short_number(std::string_view text, std::size_t& pos) {
  std::uint16_t value = 0;
  const std::size_t start = pos;
  while (pos < text.size() && is_digit(text[pos]) && pos - start < 3) {
    value = static_cast<std::uint16_t>(value * 10 + (text[pos] - '0'));
    ++pos;
  }
  if (pos == start) return std::nullopt;
  return value;
}

std::string excerpt(std::string_view line) {
  return quoted_text(line, kErrorExcerptBytes, NonAscii::escape);
}

}  // namespace

std::string to_string(EnhancedStatusCode code) {
  return std::to_string(code.status_class) + '.' + std::to_string(code.subject) + '.' +
         std::to_string(code.detail);
}

std::optional<EnhancedStatusPrefix> parse_enhanced_status_prefix(std::string_view text) {
  if (text.size() < 5) return std::nullopt;  // the shortest is "2.0.0"
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') return std::nullopt;
  if (text[1] != '.') return std::nullopt;
  std::size_t pos = 2;
  const std::optional<std::uint16_t> subject = read_short_number(text, pos);
  if (!subject || pos >= text.size() || text[pos] != '.') return std::nullopt;
  ++pos;
  const std::optional<std::uint16_t> detail = read_short_number(text, pos);
  if (!detail) return std::nullopt;
  // "4.7.1234" or "2.0.0x" is not a code followed by text.
  if (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') return std::nullopt;
  EnhancedStatusPrefix prefix;
  prefix.code.status_class = static_cast<std::uint8_t>(text[0] - '0');
  prefix.code.subject = *subject;
  prefix.code.detail = *detail;
  prefix.length = pos;
  return prefix;
}

std::string SmtpReply::text() const {
  std::string joined;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) joined += '\n';
    joined += lines[i];
  }
  return joined;
}

std::string to_log_text(const SmtpReply& reply) {
  constexpr std::string_view kCut = "...";
  std::string out = std::to_string(reply.code);
  bool cut = false;
  for (std::size_t i = 0; i < reply.lines.size() && !cut; ++i) {
    std::string_view text = reply.lines[i];
    // Gmail-style replies repeat "5.7.1" on every line; once is enough in a log.
    if (i > 0 && reply.enhanced) {
      const std::optional<EnhancedStatusPrefix> prefix = parse_enhanced_status_prefix(text);
      if (prefix && prefix->code == *reply.enhanced) text.remove_prefix(prefix->length);
    }
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
      text.remove_prefix(1);
    if (text.empty()) continue;
    text = text.substr(0, kMaxSmtpReplyLogTextBytes);  // the rest could never be shown
    if (out.size() + 1 >= kMaxSmtpReplyLogTextBytes - kCut.size()) {
      cut = true;
      break;
    }
    out += ' ';
    for (const char c : text) {
      if (out.size() >= kMaxSmtpReplyLogTextBytes - kCut.size()) {
        cut = true;
        break;
      }
      const auto byte = static_cast<unsigned char>(c);
      out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
    }
  }
  if (cut) out += kCut;
  return out;
}

void SmtpReplyParser::feed(std::string_view bytes) {
  if (failed()) return;
  // Drop what is parsed before growing the buffer, so it holds only unparsed input.
  if (parsed_ > 0) {
    input_.erase(0, parsed_);
    parsed_ = 0;
  }
  input_.append(bytes);
  // A caller that feeds without draining must not make us hold unbounded junk: once more than
  // the limit is held, it has to contain at least one complete line.
  if (input_.size() > kMaxSmtpReplyBufferedBytes && input_.find('\n') == std::string::npos) {
    (void)fail("SMTP reply: more than " + std::to_string(kMaxSmtpReplyBufferedBytes) +
               " bytes without a line ending");
  }
}

SmtpReplyParseStep SmtpReplyParser::fail(std::string error) {
  error_ = std::move(error);
  input_.clear();
  input_.shrink_to_fit();
  parsed_ = 0;
  pending_ = SmtpReply{};
  pending_bytes_ = 0;
  SmtpReplyParseStep step;
  step.status = SmtpReplyStatus::protocol_error;
  step.error = error_;
  return step;
}

SmtpReplyParseStep SmtpReplyParser::next() {
  if (failed()) {
    SmtpReplyParseStep step;
    step.status = SmtpReplyStatus::protocol_error;
    step.error = error_;
    return step;
  }
  for (;;) {
    const std::string_view rest = std::string_view(input_).substr(parsed_);
    const std::size_t line_end = rest.find('\n');
    if (line_end == std::string_view::npos) {
      // +1: the last byte may be the CR of a CRLF whose LF has not arrived yet.
      if (rest.size() > kMaxSmtpReplyLineBytes + 1) {
        return fail("SMTP reply line longer than " + std::to_string(kMaxSmtpReplyLineBytes) +
                    " bytes: " + excerpt(rest.substr(0, kErrorExcerptBytes)));
      }
      if (rest.empty()) {
        input_.clear();
        parsed_ = 0;
      }
      return SmtpReplyParseStep{};
    }
    std::string_view line = rest.substr(0, line_end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxSmtpReplyLineBytes) {
      return fail("SMTP reply line longer than " + std::to_string(kMaxSmtpReplyLineBytes) +
                  " bytes: " + excerpt(line));
    }

    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '2' || line[0] > '5') {
      return fail("SMTP reply line without a valid reply code: " + excerpt(line));
    }
    const auto code =
        static_cast<std::uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
    bool last_line = true;
    std::string_view text;
    if (line.size() > 3) {
      if (line[3] == '-') {
        last_line = false;
      } else if (line[3] != ' ') {
        return fail("SMTP reply line with neither ' ' nor '-' after the code: " + excerpt(line));
      }
      text = line.substr(4);
    }
    if (!pending_.lines.empty() && code != pending_.code) {
      return fail("SMTP multiline reply " + std::to_string(pending_.code) +
                  " continued with another code: " + excerpt(line));
    }
    if (pending_.lines.size() == kMaxSmtpReplyLines) {
      return fail("SMTP reply with more than " + std::to_string(kMaxSmtpReplyLines) + " lines");
    }
    pending_bytes_ += line.size() + 2;
    if (pending_bytes_ > kMaxSmtpReplyBufferedBytes) {
      return fail("SMTP reply longer than " + std::to_string(kMaxSmtpReplyBufferedBytes) +
                  " bytes");
    }
    parsed_ += line_end + 1;
    pending_.code = code;
    pending_.lines.emplace_back(text);
    if (!last_line) continue;

    SmtpReplyParseStep step;
    step.status = SmtpReplyStatus::reply;
    step.reply = std::exchange(pending_, SmtpReply{});
    pending_bytes_ = 0;
    if (const std::optional<EnhancedStatusPrefix> prefix =
            parse_enhanced_status_prefix(step.reply.lines.front());
        prefix && prefix->code.status_class == step.reply.code / 100) {
      step.reply.enhanced = prefix->code;
    }
    return step;
  }
}

}  // namespace bulkq
