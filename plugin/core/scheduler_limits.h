// SchedulerLimits: the scheduler's tunables and their defaults, in one place.
#pragma once

#include <cstdint>

#include "core/selection_policy.h"

namespace bulkq {

struct SchedulerLimits {
  SelectionPolicy policy = SelectionPolicy::fair;
  // Recipients one batch (one SMTP connection's worth) may take from a queue.
  std::uint32_t batch_max_recipients = 100;
};

}  // namespace bulkq
