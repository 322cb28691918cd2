// SelectionPolicy: which eligible domain queue the scheduler serves next.
//
//   largest  most recipients waiting first (drains big destinations fastest)
//   oldest   the queue that has existed longest first (first come, first served by domain)
//   fair     the default: stride scheduling. Every service advances a queue's virtual time by
//            1/weight, weight = bit width of its size (1 for one recipient, 20 for a million),
//            and the queue with the smallest virtual time goes next. Big queues get more turns,
//            but a queue that has waited long (in virtual time) always comes up: with Q eligible
//            queues, none waits more than about Q × 20 selections.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulkq {

enum class SelectionPolicy : std::uint8_t { fair, largest, oldest };

[[nodiscard]] constexpr std::string_view to_string(SelectionPolicy policy) {
  switch (policy) {
    case SelectionPolicy::fair:
      return "fair";
    case SelectionPolicy::largest:
      return "largest";
    case SelectionPolicy::oldest:
      return "oldest";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::optional<SelectionPolicy> parse_selection_policy(
    std::string_view name) {
  for (SelectionPolicy p :
       {SelectionPolicy::fair, SelectionPolicy::largest, SelectionPolicy::oldest}) {
    if (name == to_string(p)) return p;
  }
  return std::nullopt;
}

}  // namespace bulkq
