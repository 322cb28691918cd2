// DestinationPolicy: the static limits one destination is sent under, and which policy a domain
// gets ([shaping.domain."example.com"] or [shaping.domain."*.example.com"], else the default).
//
// Pure lookup: built once from the configuration, read on the scheduler thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "delivery/retry_schedule.h"
#include "delivery/smtp_session.h"
#include "shaping/domain_shaper.h"

namespace bulkq {

struct DestinationPolicy {
  std::string pattern;    // "example.com" or "*.example.com"; empty for the default policy
  ShapingLimits limits;   // max_connections and max_rate are the static limits
  bool adaptive = false;  // false: the static limits only, never learnt
  std::uint32_t max_messages_per_connection = 1000;
  std::optional<TlsPolicy> tls;  // none: the delivery-wide policy
  RetryPolicy retry;
};

class DestinationPolicies {
 public:
  DestinationPolicies() = default;
  // Patterns must be distinct; a later duplicate is ignored.
  DestinationPolicies(DestinationPolicy fallback, std::vector<DestinationPolicy> patterns);

  // The index of `domain`'s policy: its exact entry, else the "*.suffix" entry with the longest
  // suffix that `domain` ends in (at a label boundary; "*.example.com" covers a.example.com and
  // a.b.example.com, not example.com itself), else 0, the default.
  [[nodiscard]] std::size_t find(std::string_view domain) const;
  [[nodiscard]] const DestinationPolicy& operator[](std::size_t index) const {
    return policies_[index];
  }
  [[nodiscard]] std::size_t size() const { return policies_.size(); }

 private:
  std::vector<DestinationPolicy> policies_{DestinationPolicy{}};  // [0]: the default
  std::unordered_map<std::string, std::size_t> by_pattern_;
};

}  // namespace bulkq
