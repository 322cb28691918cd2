// SmtpReply and SmtpReplyParser: the server's side of an SMTP conversation, as values.
//
// The parser is incremental: the delivery client feeds it whatever bytes one socket read gave
// (a reply may be split anywhere, and with PIPELINING one read may hold several replies) and asks
// for complete replies until it says "need more". The bytes are untrusted, so everything is
// bounded (see the limits below) and every malformed reply is a protocol error value, never an
// exception or a crash; after a protocol error the parser stays failed and the caller drops the
// connection.
//
// Accepted grammar (RFC 5321 §4.2, with the usual tolerance):
//   reply = *( code "-" text EOL ) code [ " " text ] EOL
//   code  = 3 digits, the first 2..5; every line of one reply carries the same code
//   EOL   = CRLF, or a bare LF (some servers send it)
//
// Owned by one connection, so used by one thread at a time (the event-loop thread that reads the
// socket); no locks, no I/O, no clock. The free functions are pure and callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkq {

// Longest reply line accepted, code included, line ending excluded. RFC 5321 §4.5.3.1.5 allows
// 512; real servers are sometimes longer, so there is room, but not without end.
inline constexpr std::size_t kMaxSmtpReplyLineBytes = 4096;
// Most lines in one reply (a long EHLO list has about 20).
inline constexpr std::size_t kMaxSmtpReplyLines = 200;
// Most bytes the parser holds for what is not yet a complete reply: the lines of the reply being
// assembled, or unparsed input without a line ending. This bounds memory per connection.
inline constexpr std::size_t kMaxSmtpReplyBufferedBytes = 64 * 1024;
// Longest to_log_text() result, the "..." marking a cut included.
inline constexpr std::size_t kMaxSmtpReplyLogTextBytes = 1024;

// An RFC 3463 enhanced status code, class.subject.detail ("4.7.1").
struct EnhancedStatusCode {
  std::uint8_t status_class = 0;  // 2, 4 or 5
  std::uint16_t subject = 0;      // 0..999
  std::uint16_t detail = 0;       // 0..999

  friend bool operator==(const EnhancedStatusCode&, const EnhancedStatusCode&) = default;
};

// "4.7.1".
[[nodiscard]] std::string to_string(EnhancedStatusCode code);

// An enhanced status code at the start of a reply line's text, and how many bytes of the text it
// takes (without the space after it).
struct EnhancedStatusPrefix {
  EnhancedStatusCode code;
  std::size_t length = 0;
};

// The enhanced status code `text` starts with, when it starts with one: class 2, 4 or 5, a dot,
// 1..3 digits, a dot, 1..3 digits, then the end of the text or a space or tab (RFC 2034 §4).
[[nodiscard]] std::optional<EnhancedStatusPrefix> parse_enhanced_status_prefix(
    std::string_view text);

struct SmtpReply {
  std::uint16_t code = 0;  // 200..599
  // Each line's text, in order, without the code, the separator and the line ending. A bare
  // code line ("250") has empty text. Enhanced status codes stay in the text.
  std::vector<std::string> lines;
  // The enhanced status code at the start of the first line, when its class matches the reply
  // code's (so 3xx replies never have one).
  std::optional<EnhancedStatusCode> enhanced;

  // The lines joined with '\n'.
  [[nodiscard]] std::string text() const;

  friend bool operator==(const SmtpReply&, const SmtpReply&) = default;
};

[[nodiscard]] inline bool is_positive(const SmtpReply& reply) {
  return reply.code / 100 == 2;
}
// 354 after DATA.
[[nodiscard]] inline bool is_intermediate(const SmtpReply& reply) {
  return reply.code / 100 == 3;
}
[[nodiscard]] inline bool is_transient(const SmtpReply& reply) {
  return reply.code / 100 == 4;
}
[[nodiscard]] inline bool is_permanent(const SmtpReply& reply) {
  return reply.code / 100 == 5;
}

// One line for a log, in Postfix's shape: "250 2.0.0 Ok: queued as X". The lines are joined with
// spaces; a continuation line's repeat of the first line's enhanced code is left out; bytes
// outside printable ASCII become '?' (as Postfix's printable() does); at most
// kMaxSmtpReplyLogTextBytes, cut with "...".
[[nodiscard]] std::string to_log_text(const SmtpReply& reply);

enum class SmtpReplyStatus {
  reply,           // `reply` holds the next complete reply
  need_more,       // feed more bytes, then ask again
  protocol_error,  // `error` says why; the connection must be dropped
};

struct SmtpReplyParseStep {
  SmtpReplyStatus status = SmtpReplyStatus::need_more;
  SmtpReply reply;    // when status == reply
  std::string error;  // when status == protocol_error: one printable line, bounded
};

class SmtpReplyParser {
 public:
  // Takes the bytes of one read. Feed, then call next() until it stops returning replies, then
  // read again: so the parser holds at most one read plus one incomplete reply. Bytes fed after
  // a protocol error are ignored.
  void feed(std::string_view bytes);

  // The next complete reply, or need_more, or the protocol error (again on every later call).
  [[nodiscard]] SmtpReplyParseStep next();

  [[nodiscard]] bool failed() const { return !error_.empty(); }
  // Input bytes fed but not yet taken into a reply line (for tests and the fuzzer's bounds check).
  [[nodiscard]] std::size_t unparsed_bytes() const { return input_.size() - parsed_; }
  // Bytes held for the reply being assembled (its finished lines).
  [[nodiscard]] std::size_t pending_reply_bytes() const { return pending_bytes_; }

 private:
  SmtpReplyParseStep fail(std::string error);

  std::string input_;       // fed bytes; [parsed_, end) are not yet parsed
  std::size_t parsed_ = 0;  // bytes of input_ already taken
  SmtpReply pending_;       // the reply being assembled from its continuation lines
  std::size_t pending_bytes_ = 0;
  std::string error_;  // set once, on the first protocol error
};

}  // namespace bulkq
