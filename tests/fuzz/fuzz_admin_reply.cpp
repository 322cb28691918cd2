// Fuzzes bulkqctl's reply reader (a small JSON reader): no input may crash it or recurse without
// bound, success means no error, and an error is safe to print on a terminal.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ctl/admin_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::AdminReplyStatus status = bulkq::read_admin_reply_status(input);
  if (status.ok != status.error.empty()) std::abort();
  for (char c : status.error) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) std::abort();
  }
  return 0;
}
