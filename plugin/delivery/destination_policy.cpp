#include "delivery/destination_policy.h"

#include <utility>

namespace bulkq {

DestinationPolicies::DestinationPolicies(DestinationPolicy fallback,
                                         std::vector<DestinationPolicy> patterns) {
  policies_.clear();
  policies_.push_back(std::move(fallback));
  policies_.front().pattern.clear();
  for (DestinationPolicy& policy : patterns) {
    if (policy.pattern.empty() || by_pattern_.contains(policy.pattern)) continue;
    by_pattern_.emplace(policy.pattern, policies_.size());
    policies_.push_back(std::move(policy));
  }
}

std::size_t DestinationPolicies::find(std::string_view domain) const {
  if (by_pattern_.empty()) return 0;
  std::string key(domain);
  if (const auto it = by_pattern_.find(key); it != by_pattern_.end()) return it->second;
  // The longest suffix first: each parent of `domain` in turn, as "*.parent".
  std::size_t dot = domain.find('.');
  while (dot != std::string_view::npos) {
    key.assign("*");
    key.append(domain.substr(dot));
    if (const auto it = by_pattern_.find(key); it != by_pattern_.end()) return it->second;
    dot = domain.find('.', dot + 1);
  }
  return 0;
}

}  // namespace bulkq
