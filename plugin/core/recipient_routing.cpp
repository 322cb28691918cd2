#include "core/recipient_routing.h"

#include "core/domain_table.h"

namespace bulkq {

std::uint32_t RecipientRouting::add_domain(std::string_view canonical_domain) {
  // Messages usually name few distinct domains, where a scan beats hashing; past that a map keeps
  // a 10 000-recipient, 10 000-domain message linear.
  constexpr std::uint32_t kScanLimit = 16;
  if (index_.empty()) {
    for (std::uint32_t d = 0; d < domain_count(); ++d) {
      if (domain(d) == canonical_domain) return d;
    }
  } else if (auto found = index_.find(std::string(canonical_domain)); found != index_.end()) {
    return found->second;
  }
  names_.insert(names_.end(), canonical_domain.begin(), canonical_domain.end());
  ends_.push_back({domain_hash(canonical_domain), static_cast<std::uint32_t>(names_.size())});
  const std::uint32_t added = domain_count() - 1;
  if (!index_.empty()) {
    index_.emplace(canonical_domain, added);
  } else if (domain_count() > kScanLimit) {
    for (std::uint32_t d = 0; d < domain_count(); ++d)
      index_.emplace(domain(d), d);
  }
  return added;
}

}  // namespace bulkq
