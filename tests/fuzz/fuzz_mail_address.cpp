// Fuzzes the address splitter and domain normaliser: no input may crash them, and whatever they
// accept must be stable (normalising a canonical domain gives it back unchanged).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/domain_name.h"
#include "core/mail_address.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::SplitAddress split = bulkq::split_address(input);
  if (split.ok()) {
    const bulkq::DomainNameResult again = bulkq::normalise_domain(split.domain);
    if (!again.ok() || again.canonical != split.domain) std::abort();
    if (split.local_part.empty()) std::abort();
  }
  (void)bulkq::normalise_domain(input);
  return 0;
}
