#include "admin/status_board.h"

#include <utility>

namespace bulkq {

void StatusBoard::publish(const EngineStatus& status) {
  // The copy of the strings may allocate; done outside the lock, the lock only swaps.
  EngineStatus copy = status;
  const std::lock_guard lock(mutex_);
  std::swap(status_, copy);
}

EngineStatus StatusBoard::latest() const {
  const std::lock_guard lock(mutex_);
  return status_;
}

}  // namespace bulkq
