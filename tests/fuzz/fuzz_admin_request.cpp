// Fuzzes the admin socket's request parser, which reads bytes from any local peer: no input may
// crash it, an accepted request must round-trip through to_request_line, and a refused one must
// get a short, printable-ASCII error (it goes into a log line and a reply).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_request.h"

namespace {

void check(const bulkq::AdminRequestResult& result) {
  if (!result.ok()) {
    if (result.error.size() > 512) std::abort();
    for (char c : result.error) {
      if (c < 0x20 || c > 0x7e) std::abort();
    }
    return;
  }
  const std::string line = bulkq::to_request_line(result.request);
  if (line.size() > bulkq::kMaxAdminRequestLength) std::abort();
  const bulkq::AdminRequestResult again = bulkq::parse_admin_request(line);
  if (!again.ok() || !(again.request == result.request)) std::abort();
  if (bulkq::to_request_line(again.request) != line) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check(bulkq::parse_admin_request(input));

  // The same bytes as argv words (bulkqctl's path), split at NUL bytes as argv would be.
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start <= input.size()) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    words.push_back(input.substr(start, end - start));
    start = end + 1;
  }
  check(bulkq::parse_admin_request_words(words));
  return 0;
}
