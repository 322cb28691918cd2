#include "core/domain_table.h"

#include <cassert>
#include <cstring>
#include <functional>
#include <new>

namespace bulkq {
namespace {

constexpr std::size_t kInitialSlots = 64;

DomainQueue* create_queue(std::string_view domain) {
  void* memory = ::operator new(sizeof(DomainQueue) + domain.size());
  auto* queue = new (memory) DomainQueue();
  std::memcpy(static_cast<char*>(memory) + sizeof(DomainQueue), domain.data(), domain.size());
  return queue;
}

void destroy_queue(DomainQueue* queue) {
  queue->~DomainQueue();
  ::operator delete(queue);
}

}  // namespace

std::uint64_t domain_hash(std::string_view canonical_domain) {
  // Mixed once more so the low bits that pick a slot depend on every input bit.
  std::uint64_t h = std::hash<std::string_view>{}(canonical_domain);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

DomainTable::DomainTable() : slots_(kInitialSlots, nullptr) {}

DomainTable::~DomainTable() {
  for (DomainQueue* queue : slots_) {
    if (queue != nullptr) destroy_queue(queue);
  }
}

DomainQueue* DomainTable::find(std::string_view domain, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t slot = slot_of(hash);; slot = (slot + 1) & mask) {
    DomainQueue* queue = slots_[slot];
    if (queue == nullptr) return nullptr;
    if (queue->hash_ == hash && queue->domain() == domain) return queue;
  }
}

DomainQueue& DomainTable::insert(std::string_view domain, std::uint64_t hash) {
  assert(find(domain, hash) == nullptr);
  assert(domain.size() <= UINT16_MAX);
  // Keep the load at or under 3/4 so probe runs stay short.
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  DomainQueue* queue = create_queue(domain);
  queue->hash_ = hash;
  queue->name_length_ = static_cast<std::uint16_t>(domain.size());
  const std::size_t mask = slots_.size() - 1;
  std::size_t slot = slot_of(hash);
  while (slots_[slot] != nullptr)
    slot = (slot + 1) & mask;
  slots_[slot] = queue;
  ++size_;
  return *queue;
}

void DomainTable::erase(DomainQueue* queue) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = slot_of(queue->hash_);
  while (slots_[hole] != queue) {
    assert(slots_[hole] != nullptr && "erasing a queue that is not in the table");
    hole = (hole + 1) & mask;
  }
  // Backward-shift deletion: pull later members of the probe run into the hole so every
  // remaining queue stays reachable from its home slot without tombstones.
  for (std::size_t next = (hole + 1) & mask; slots_[next] != nullptr; next = (next + 1) & mask) {
    const std::size_t home = slot_of(slots_[next]->hash_);
    const bool movable =
        (next > hole) ? (home <= hole || home > next) : (home <= hole && home > next);
    if (movable) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = nullptr;
  --size_;
  destroy_queue(queue);
}

void DomainTable::grow() {
  std::vector<DomainQueue*> old(slots_.size() * 2, nullptr);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (DomainQueue* queue : old) {
    if (queue == nullptr) continue;
    std::size_t slot = slot_of(queue->hash_);
    while (slots_[slot] != nullptr)
      slot = (slot + 1) & mask;
    slots_[slot] = queue;
  }
}

}  // namespace bulkq
