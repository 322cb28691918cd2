// DomainTable: canonical domain name → DomainQueue, the queue map's index.
//
// Open addressing with linear probing over a table of pointers; each queue carries its full
// hash and its name inline (one allocation per domain), so a lookup costs about one probe and
// the queue it lands on. std::unordered_map<std::string, …> cost a bucket, a node and, past 15
// characters, a separate key allocation per domain, and three cache misses per lookup — measured
// at a million queued recipients to be the largest single cost of filing. Hashes are computed by
// the producers (RecipientRouting) so the scheduler thread only probes.
// Owns its queues. Owned by the scheduler thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/domain_queue.h"

namespace bulkq {

[[nodiscard]] std::uint64_t domain_hash(std::string_view canonical_domain);

class DomainTable {
 public:
  DomainTable();
  ~DomainTable();
  DomainTable(const DomainTable&) = delete;
  DomainTable& operator=(const DomainTable&) = delete;

  [[nodiscard]] DomainQueue* find(std::string_view domain, std::uint64_t hash) const;
  // Starts loading what find(…, hash) will read first, so several lookups overlap their cache
  // misses instead of paying them one after another.
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&slots_[slot_of(hash)]); }
  // Second stage: the queue the home slot points at (usually the one find returns).
  void prefetch_home_queue(std::uint64_t hash) const {
    if (const DomainQueue* queue = slots_[slot_of(hash)]) __builtin_prefetch(queue);
  }
  // Creates the queue for `domain`, which must not be in the table yet.
  [[nodiscard]] DomainQueue& insert(std::string_view domain, std::uint64_t hash);
  // Destroys `queue` and removes it.
  void erase(DomainQueue* queue);

  [[nodiscard]] std::size_t size() const { return size_; }

  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (DomainQueue* queue : slots_) {
      if (queue != nullptr) visit(*queue);
    }
  }

 private:
  [[nodiscard]] std::size_t slot_of(std::uint64_t hash) const { return hash & (slots_.size() - 1); }
  void grow();

  std::vector<DomainQueue*> slots_;
  std::size_t size_ = 0;
};

}  // namespace bulkq
