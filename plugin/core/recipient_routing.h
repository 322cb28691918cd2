// RecipientRouting: which destination domain each recipient of a new message belongs to.
//
// Built by the producer (a milter thread) while it splits addresses, consumed once by the
// scheduler thread to file data nodes, then dropped: the record itself keeps only local parts.
// Typical messages (a few dozen recipients, a handful of domains) fit the inline buffers, so the
// scheduler frees one allocation per message, not four.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bulkq {

class RecipientRouting {
 public:
  // Returns the index of `canonical_domain`, adding it if new.
  std::uint32_t add_domain(std::string_view canonical_domain);
  void route(std::uint32_t domain_index) { domain_of_.push_back(domain_index); }

  [[nodiscard]] std::uint32_t domain_count() const {
    return static_cast<std::uint32_t>(ends_.size());
  }
  [[nodiscard]] std::string_view domain(std::uint32_t d) const {
    const std::uint32_t begin = d == 0 ? 0 : ends_[d - 1].end;
    return std::string_view(names_.data() + begin, ends_[d].end - begin);
  }
  // domain_hash(domain(d)), computed here on the producer's thread.
  [[nodiscard]] std::uint64_t domain_hash_of(std::uint32_t d) const { return ends_[d].hash; }
  [[nodiscard]] std::uint32_t recipient_count() const {
    return static_cast<std::uint32_t>(domain_of_.size());
  }
  [[nodiscard]] std::uint32_t domain_of(std::uint32_t recipient) const {
    return domain_of_[recipient];
  }

 private:
  std::string names_;  // the distinct canonical domains, concatenated
  struct DomainEnd {
    std::uint64_t hash;
    std::uint32_t end;  // end offset of the domain in names_
  };
  boost::container::small_vector<DomainEnd, 8> ends_;
  boost::container::small_vector<std::uint32_t, 32> domain_of_;
  std::unordered_map<std::string, std::uint32_t> index_;  // only once a message names many domains
};

}  // namespace bulkq
