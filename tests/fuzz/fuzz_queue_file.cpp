// Fuzzes the Postfix queue-file reader: no input may crash it, hang it (pointer loops are
// bounded), or be accepted by parse_queue_file and then fail in ContentCursor, which walks the
// same records, or find a marker header with the value 0; and marking recipients done for
// `bulkqctl release` (every other one, by the input's size) must give a file that parses the
// same with exactly those recipients done. Seeds: the real held files of tests/data/postfix/held.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postfix/content_cursor.h"
#include "postfix/done_recipient_marks.h"
#include "postfix/marker_header.h"
#include "postfix/queue_file_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bulkq::PostfixQueueFileResult parsed = bulkq::parse_queue_file(bytes);
  if (!parsed.ok()) {
    if (parsed.error.empty()) std::abort();
    return 0;
  }
  if (parsed.file.content_start > size) std::abort();
  for (const bulkq::PostfixRecipient& r : parsed.file.recipients) {
    if (r.record_offset >= size) std::abort();
    if (bytes[r.record_offset] != (r.done ? 'D' : 'R')) std::abort();
  }
  std::size_t total = 0;
  const bulkq::ContentLinesResult walked = bulkq::for_each_content_line(
      bytes, parsed.file, [&total](std::string_view line) { total += line.size(); });
  if (!walked.ok() || total > size) std::abort();
  // The marker search walks the same header lines; a marker it reports is never 0.
  const std::optional<bulkq::MessageId> marker = bulkq::find_marker(bytes, parsed.file);
  if (marker && *marker == 0) std::abort();

  std::vector<std::uint32_t> finished;
  for (std::size_t r = size % 2; r < parsed.file.recipients.size(); r += 2)
    finished.push_back(static_cast<std::uint32_t>(r));
  const bulkq::DoneMarksPlan plan = bulkq::plan_done_marks(bytes, parsed.file, finished);
  if (!plan.ok()) std::abort();  // indexes in range, every R where the reader saw it
  std::string marked(bytes);
  bulkq::apply_done_marks(marked, plan);
  const bulkq::PostfixQueueFileResult again = bulkq::parse_queue_file(marked);
  if (!again.ok() || again.file.recipients.size() != parsed.file.recipients.size()) std::abort();
  std::uint32_t left = 0;
  for (std::size_t r = 0; r < again.file.recipients.size(); ++r) {
    const bool want = parsed.file.recipients[r].done || r % 2 == size % 2;
    if (again.file.recipients[r].done != want) std::abort();
    if (!want) ++left;
  }
  if (left != plan.still_to_deliver) std::abort();
  return 0;
}
