// The marker header (kMarkerHeaderName, "X-Bulkq-Id: <MessageId>") in a Postfix queue file.
//
// bulkq's milter adds the marker to every message it diverts, so that recovery recognises its own
// held files (Postfix discards the quarantine reason). This module finds its value in the header
// section of a parsed queue file and tells the streaming code which lines to leave out; it never
// looks past the header section, so a body line that looks like the header is just a body line.
//
// Pure: no I/O, no state beyond one HeaderScanner; callable from any thread. The file bytes and
// the header value are untrusted: a marker that is not a well-formed MessageId is ignored, never
// an error, because a held file bulkq did not create (or one a sender forged a header into) is
// normal.
#pragma once

#include <optional>
#include <string_view>

#include "core/message_record.h"
#include "postfix/queue_file_reader.h"

namespace bulkq {

// The value of a marker header (unfolded): a decimal MessageId of 1 to 20 digits, surrounded by
// optional whitespace, non-zero and within uint64. Anything else (sign, letters, inner spaces,
// overflow, 0) is nullopt.
[[nodiscard]] std::optional<MessageId> parse_marker_value(std::string_view value);

// Sorts the content lines of a message, fed in order, into the header section and the body, and
// marks the lines that belong to a marker header field (its first line and its folded
// continuation lines, which start with a space or a tab). The header section ends at the empty
// separator line or at the first line that is neither a header field nor a continuation (a
// message without a separator); field names match case-insensitively, with optional whitespace
// before the colon as RFC 5322's obsolete syntax and Postfix allow.
class HeaderScanner {
 public:
  enum class LineKind {
    header,            // a header line that is not part of a marker field
    marker_start,      // the first line of a marker field: "X-Bulkq-Id: ..."
    marker_continued,  // a folded continuation line of a marker field
    header_end,        // the empty line that ends the header section
    body,              // a line after the header section
  };

  LineKind classify(std::string_view line);

  // False once the header section has ended: no later line can be a marker.
  [[nodiscard]] bool in_headers() const { return in_headers_; }

 private:
  bool in_headers_ = true;
  bool in_marker_ = false;
};

// For a line that classify() called marker_start: the field value after the colon.
[[nodiscard]] std::string_view marker_field_value(std::string_view line);

// The id of the LAST well-formed marker header in the header section of `file` (milter-added
// headers go where Postfix's p records put them, normally last, so a forged marker the sender
// put earlier in the headers loses), or nullopt when there is none. `file` must be the bytes
// `parsed` was parsed from; a content walk error ends the search with what was found so far.
[[nodiscard]] std::optional<MessageId> find_marker(std::string_view file,
                                                   const PostfixQueueFile& parsed);

}  // namespace bulkq
