// ContentCursor: the message content of a Postfix queue file, one logical line at a time.
//
// A line is one `N` record, or `L` fragments joined up to and including the next `N` (Postfix
// splits long lines into records of line_length_limit bytes). The cursor walks the records in
// logical order from PostfixQueueFile::content_start to the `X` record, so header lines a milter
// added or changed (reached through `p` records into the heap after `E`) come out where postcat
// shows them. Lines are as stored: no CRLF, headers first, an empty line, then the body, and
// NOT dot-stuffed (re-stuff before sending over SMTP).
//
// Streaming: a single-record line is a view into the file bytes; only joined fragments are
// copied, into one buffer the cursor reuses. Nothing holds the whole body. The view returned by
// line() is valid until the next call to next() and while the file bytes live.
//
// Untrusted bytes: parse_queue_file has checked the same walk, so on the file it parsed the
// cursor meets no error; on any other bytes it stops with an error naming the offset. Pure; one
// cursor per thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "postfix/queue_file_reader.h"
#include "postfix/queue_record_walker.h"

namespace bulkq {

class ContentCursor {
 public:
  // `file` must be the bytes `parsed` was parsed from.
  ContentCursor(std::string_view file, const PostfixQueueFile& parsed)
      : ContentCursor(file, parsed.content_start) {}
  ContentCursor(std::string_view file, std::size_t content_start) : walker_(file, content_start) {}

  // Moves to the next line. False at the end of the content, or on an error (error() says).
  [[nodiscard]] bool next();

  [[nodiscard]] std::string_view line() const { return line_; }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  QueueRecordWalker walker_;
  std::string joined_;  // L fragments of the current line
  std::string_view line_;
  std::string error_;
  bool finished_ = false;
};

struct ContentLinesResult {
  std::size_t line_count = 0;  // lines passed to the callback
  std::string error;           // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Calls on_line(std::string_view) for each logical line, in order.
template <typename OnLine>
[[nodiscard]] ContentLinesResult for_each_content_line(std::string_view file,
                                                       const PostfixQueueFile& parsed,
                                                       OnLine&& on_line) {
  ContentLinesResult result;
  ContentCursor cursor(file, parsed);
  while (cursor.next()) {
    on_line(cursor.line());
    ++result.line_count;
  }
  result.error = cursor.error();
  return result;
}

}  // namespace bulkq
