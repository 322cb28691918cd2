// Fuzzes the journal record decoder, which reads bytes from disk that may be damaged: no input
// may crash it, and every record it accepts must re-encode to exactly the input bytes (the
// encoding is canonical, so a record read at recovery and written back is unchanged).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "journal/journal_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::DecodedJournalRecord decoded = bulkq::decode_journal_record(input);
  if (decoded.ok()) {
    const bulkq::EncodedJournalRecord again = bulkq::encode_journal_record(decoded.record);
    if (!again.ok() || again.bytes != input) std::abort();
    if (decoded.record.finished_count() > decoded.record.recipient_count) std::abort();
  }
  const bulkq::DecodedJournalKey key = bulkq::decode_journal_key(input);
  if (key.ok()) {
    const auto bytes = bulkq::encode_journal_key(key.id);
    if (std::string_view(bytes.data(), bytes.size()) != input) std::abort();
  }
  return 0;
}
