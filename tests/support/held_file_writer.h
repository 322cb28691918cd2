// HeldFileWriter: complete, well-formed Postfix hold-queue files for tests and benchmarks.
//
// held_file_bytes() lays a message out the way Postfix 3.7's cleanup does (compare the real files
// in tests/data/postfix/held): a `C` size record with the right fields, `T`, `A` attributes, `S`,
// per recipient `A dsn_orig_rcpt`, `O` and `R` (or `D` for one already delivered), `M`, the
// content as `N` records (lines longer than 2048 bytes split into `L` fragments, as
// line_length_limit does), `X`, `E`. The marker header X-Bulkq-Id goes last in the headers,
// either inline or — as when a milter adds it with smfi_addheader — in a heap after `E`, reached
// through a `p` record and followed by a `p` back to the separator line.
// write_held_file() stores it as HOLD_DIR/ID and sets the mode (0700 = committed).
//
// Header-only and test-only, without Catch2, so benchmarks can use it too. It checks nothing:
// the caller decides what is in the headers, so it can write a forged or garbage marker too.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/postfix_record_writer.h"

namespace bulkq::testing {

struct HeldFileRecipient {
  std::string address;
  bool done = false;  // a `D` record: qmgr already delivered it
};

enum class MarkerPlacement {
  inline_header,  // an `N` record after the other headers
  heap_after_end  // where smfi_addheader puts it: p → heap after E → p back
};

struct HeldFileSpec {
  std::string queue_id = "ABCDE12345";  // only for the log_ident attribute and the header
  std::string sender = "sender@example.org";
  std::vector<HeldFileRecipient> recipients = {{"rcpt@example.net", false}};
  std::optional<std::uint64_t> marker;  // X-Bulkq-Id value when set
  MarkerPlacement marker_placement = MarkerPlacement::inline_header;
  // Header lines as stored (folded continuation lines are separate entries starting with a
  // space or tab); the marker, when set, comes after them.
  std::vector<std::string> headers = {"From: Sender <sender@example.org>", "To: rcpt@example.net",
                                      "Subject: synthetic held message",
                                      "Message-ID: <synthetic@example.org>"};
  std::vector<std::string> body_lines = {"Hello.", ".leading dot", "", "last line"};
  std::int64_t arrival_seconds = 1795946358;
  std::int64_t arrival_microseconds = 182000;
};

// Postfix's line_length_limit: longer content lines are split into L records of this size.
inline constexpr std::size_t kPostfixLineLengthLimit = 2048;

inline void add_content_line(PostfixRecordWriter& w, std::string_view line) {
  while (line.size() > kPostfixLineLengthLimit) {
    w.add('L', line.substr(0, kPostfixLineLengthLimit));
    line.remove_prefix(kPostfixLineLengthLimit);
  }
  w.add('N', line);
}

inline std::string held_file_bytes(const HeldFileSpec& spec) {
  PostfixRecordWriter w;
  const std::string seconds = std::to_string(spec.arrival_seconds);
  w.add('T', seconds + " " + std::to_string(spec.arrival_microseconds));
  w.add('A', "create_time=" + seconds);
  w.add('A', "log_ident=" + spec.queue_id);
  w.add('A', "rewrite_context=local");
  w.add('S', spec.sender);
  w.add('A', "protocol_name=ESMTP");
  for (const HeldFileRecipient& r : spec.recipients) {
    w.add('A', "dsn_orig_rcpt=rfc822;" + r.address);
    w.add('O', r.address);
    w.add(r.done ? 'D' : 'R', r.address);
  }
  w.add_pointer(0);  // cleanup leaves a dummy pointer for recipients a milter may add
  w.add('M');
  const std::size_t content_offset = w.size();
  for (const std::string& header : spec.headers)
    add_content_line(w, header);
  const std::string marker_line =
      spec.marker ? std::string("X-Bulkq-Id: ") + std::to_string(*spec.marker) : std::string();
  if (spec.marker && spec.marker_placement == MarkerPlacement::inline_header) {
    w.add('N', marker_line);
  }
  const std::size_t headers_end_pointer = w.add_pointer(0);  // for headers a milter may add
  const std::size_t separator = w.add('N', "");
  for (const std::string& line : spec.body_lines)
    add_content_line(w, line);
  const std::size_t extracted = w.add('X');
  w.add('E');
  if (spec.marker && spec.marker_placement == MarkerPlacement::heap_after_end) {
    const std::size_t heap = w.add('N', marker_line);
    w.add_pointer(separator);
    w.patch_pointer(headers_end_pointer, heap);
  }
  const std::size_t content_size = extracted - content_offset;
  w.set_size(content_size, content_offset, spec.recipients.size(), 0, content_size, 0);
  return w.bytes();
}

// Writes HOLD_DIR/QUEUE_ID (spec.queue_id) and sets its mode; returns its path, or "" on failure.
inline std::string write_held_file(const std::string& hold_dir, const HeldFileSpec& spec,
                                   mode_t mode = 0700) {
  const std::string path = hold_dir + "/" + spec.queue_id;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << held_file_bytes(spec);
    if (!out.flush()) return {};
  }
  if (::chmod(path.c_str(), mode) != 0) return {};
  return path;
}

}  // namespace bulkq::testing
