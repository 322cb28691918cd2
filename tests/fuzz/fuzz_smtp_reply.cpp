// Fuzzes SmtpReplyParser with server bytes split into arbitrary chunks: no input may crash it or
// make it hold more than its limits, every reply it returns must be well-formed, and the replies
// must not depend on how the bytes were split (whole input vs. the fuzzer-chosen chunks vs. one
// byte at a time).
//
// Input layout: the first byte picks a chunk-size seed, the rest is the server's byte stream.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/smtp_reply.h"

namespace {

struct Outcome {
  std::vector<bulkq::SmtpReply> replies;
  bool failed = false;
};

void check_reply(const bulkq::SmtpReply& reply) {
  if (reply.code < 200 || reply.code > 599) std::abort();
  if (reply.lines.empty() || reply.lines.size() > bulkq::kMaxSmtpReplyLines) std::abort();
  std::size_t total = 0;
  for (const std::string& line : reply.lines) {
    if (line.size() + 4 > bulkq::kMaxSmtpReplyLineBytes) std::abort();
    if (line.find('\n') != std::string::npos) std::abort();
    total += line.size();
  }
  if (total > bulkq::kMaxSmtpReplyBufferedBytes) std::abort();
  if (reply.enhanced && reply.enhanced->status_class != reply.code / 100) std::abort();
  const std::string log = bulkq::to_log_text(reply);
  if (log.size() > bulkq::kMaxSmtpReplyLogTextBytes) std::abort();
  for (const char c : log) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) std::abort();
  }
}

// Feeds `stream` in chunks whose sizes come from `seed` (0: whole), draining after each feed.
Outcome run(std::string_view stream, std::uint8_t seed, bool byte_at_a_time) {
  bulkq::SmtpReplyParser parser;
  Outcome outcome;
  std::size_t pos = 0;
  std::uint32_t state = seed;
  while (pos < stream.size() && !outcome.failed) {
    std::size_t chunk = stream.size();
    if (byte_at_a_time) {
      chunk = 1;
    } else if (seed != 0) {
      state = state * 1103515245U + 12345U;  // cheap deterministic chunk sizes, 1..64
      chunk = 1 + (state >> 16) % 64;
    }
    const std::string_view piece = stream.substr(pos, chunk);
    pos += piece.size();
    parser.feed(piece);
    for (;;) {
      // A caller that drains after every feed never sees the parser hold more than this.
      if (parser.pending_reply_bytes() > bulkq::kMaxSmtpReplyBufferedBytes) std::abort();
      if (!parser.failed() &&
          parser.unparsed_bytes() > piece.size() + bulkq::kMaxSmtpReplyLineBytes + 1) {
        std::abort();
      }
      bulkq::SmtpReplyParseStep step = parser.next();
      if (step.status == bulkq::SmtpReplyStatus::reply) {
        check_reply(step.reply);
        outcome.replies.push_back(std::move(step.reply));
        continue;
      }
      if (step.status == bulkq::SmtpReplyStatus::protocol_error) {
        if (step.error.empty() || step.error.size() > 512) std::abort();
        if (parser.next().status != bulkq::SmtpReplyStatus::protocol_error) std::abort();
        outcome.failed = true;
      }
      break;
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t seed = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = run(stream, 0, false);
  const Outcome chunked = run(stream, seed, false);
  const Outcome bytes = run(stream, 0, true);
  if (whole.replies != chunked.replies || whole.failed != chunked.failed) std::abort();
  if (whole.replies != bytes.replies || whole.failed != bytes.failed) std::abort();
  return 0;
}
