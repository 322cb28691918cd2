// Where a message's body lives: the MTA's own spool, named by the MTA's queue id.
#pragma once

#include <cstdint>
#include <string_view>

namespace bulkq {

enum class MtaKind : std::uint8_t { postfix = 1, sendmail = 2, exim = 3 };

[[nodiscard]] constexpr std::string_view to_string(MtaKind kind) {
  switch (kind) {
    case MtaKind::postfix:
      return "postfix";
    case MtaKind::sendmail:
      return "sendmail";
    case MtaKind::exim:
      return "exim";
  }
  return "unknown";
}

// Longest queue id any supported MTA produces (Exim ≥ 4.97: 23 characters), with room to spare.
inline constexpr std::size_t kMaxQueueIdLength = 32;

struct SpoolRef {
  MtaKind kind = MtaKind::postfix;
  std::string_view queue_id;  // a view into the owning MessageRecord
};

}  // namespace bulkq
