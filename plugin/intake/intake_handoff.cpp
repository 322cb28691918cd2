#include "intake/intake_handoff.h"

#include <boost/lockfree/queue.hpp>
#include <stdexcept>
#include <string>

namespace bulkq {

struct IntakeHandoff::Queue {
  explicit Queue(std::size_t capacity) : messages(capacity) {}
  boost::lockfree::queue<IntakeMessage*, boost::lockfree::fixed_sized<true>> messages;
};

IntakeHandoff::IntakeHandoff(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0 || capacity > kMaxCapacity) {
    throw std::invalid_argument("intake handoff capacity must be between 1 and " +
                                std::to_string(kMaxCapacity));
  }
  queue_ = std::make_unique<Queue>(capacity);
}

IntakeHandoff::~IntakeHandoff() {
  IntakeMessage* message = nullptr;
  while (queue_->messages.pop(message))
    delete message;
}

HandoffResult IntakeHandoff::try_push(std::unique_ptr<IntakeMessage>& message) {
  // Count first so depth() never reads below zero when the consumer pops right away.
  depth_.fetch_add(1, std::memory_order_relaxed);
  if (!queue_->messages.bounded_push(message.get())) {
    depth_.fetch_sub(1, std::memory_order_relaxed);
    refused_.fetch_add(1, std::memory_order_relaxed);
    return HandoffResult::full;
  }
  message.release();  // the queue owns it now
  accepted_.fetch_add(1, std::memory_order_relaxed);
  return HandoffResult::accepted;
}

std::unique_ptr<IntakeMessage> IntakeHandoff::try_pop() {
  IntakeMessage* message = nullptr;
  if (!queue_->messages.pop(message)) return nullptr;
  depth_.fetch_sub(1, std::memory_order_relaxed);
  return std::unique_ptr<IntakeMessage>(message);
}

}  // namespace bulkq
