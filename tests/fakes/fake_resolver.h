// FakeResolver: a Resolver that answers from a table, when the test says so.
//
// Every resolve() is counted and queued; nothing is answered until the test calls answer_next(),
// answer(name, type) or answer_all(), so a test decides the order and the moment of each
// callback (and the Resolver promise "never inside resolve()" holds). A name/type missing from
// the table is answered with DnsOutcome::resolver_error, so a forgotten entry shows up as a
// temporary failure rather than passing by accident. Destroying it drops the callbacks still
// queued without calling them, as CaresResolver does. Single-threaded, like the real one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dns/resolver.h"

namespace bulkq::testing {

class FakeResolver final : public Resolver {
 public:
  // The table: what a lookup of (name, type) is answered with from now on.
  void set(const std::string& name, QueryType type, DnsLookupResult result) {
    result.domain = name;
    result.type = type;
    table_[{name, type}] = std::move(result);
  }
  void set_mx(const std::string& name, std::vector<MxRecord> mx, std::uint32_t ttl = 3600) {
    DnsLookupResult r;
    r.outcome = DnsOutcome::records;
    r.rcode = DnsRcode::noerror;
    r.mx = std::move(mx);
    r.ttl = ttl;
    set(name, QueryType::mx, std::move(r));
  }
  void set_addresses(const std::string& name, QueryType type, std::vector<IpAddress> addresses,
                     std::uint32_t ttl = 3600) {
    DnsLookupResult r;
    r.outcome = DnsOutcome::records;
    r.rcode = DnsRcode::noerror;
    r.addresses = std::move(addresses);
    r.ttl = ttl;
    set(name, type, std::move(r));
  }
  // nodata, nxdomain (with the SOA negative TTL), servfail, timeout, ...
  void set_outcome(const std::string& name, QueryType type, DnsOutcome outcome,
                   std::optional<std::uint32_t> ttl = std::nullopt) {
    DnsLookupResult r;
    r.outcome = outcome;
    r.rcode = outcome == DnsOutcome::nxdomain   ? DnsRcode::nxdomain
              : outcome == DnsOutcome::nodata   ? DnsRcode::noerror
              : outcome == DnsOutcome::servfail ? DnsRcode::servfail
                                                : DnsRcode::other;
    r.ttl = ttl;
    r.error = outcome == DnsOutcome::timeout ? "no answer" : "";
    set(name, type, std::move(r));
  }
  // A host with one IPv4 address and no IPv6 (AAAA NODATA).
  void set_host(const std::string& name, const IpAddress& v4, std::uint32_t ttl = 3600) {
    set_addresses(name, QueryType::a, {v4}, ttl);
    set_outcome(name, QueryType::aaaa, DnsOutcome::nodata, 300);
  }

  // Resolver
  void resolve(std::string domain, QueryType type, ResolveCallback callback) override {
    ++queries_[{domain, type}];
    ++total_queries_;
    pending_.push_back(Pending{std::move(domain), type, std::move(callback)});
  }

  // Answers the oldest queued lookup; false when none is queued.
  bool answer_next() {
    if (pending_.empty()) return false;
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    p.callback(lookup(p.name, p.type));
    return true;
  }
  // Answers the oldest queued lookup of (name, type); false when there is none.
  bool answer(const std::string& name, QueryType type) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->name == name && it->type == type) {
        Pending p = std::move(*it);
        pending_.erase(it);
        p.callback(lookup(p.name, p.type));
        return true;
      }
    }
    return false;
  }
  // Answers until nothing is queued (including lookups the callbacks start); returns how many.
  std::size_t answer_all() {
    std::size_t n = 0;
    while (answer_next())
      ++n;
    return n;
  }

  [[nodiscard]] std::size_t pending() const { return pending_.size(); }
  [[nodiscard]] std::size_t queries(const std::string& name, QueryType type) const {
    auto it = queries_.find({name, type});
    return it == queries_.end() ? 0 : it->second;
  }
  [[nodiscard]] std::size_t total_queries() const { return total_queries_; }

 private:
  struct Pending {
    std::string name;
    QueryType type;
    ResolveCallback callback;
  };

  DnsLookupResult lookup(const std::string& name, QueryType type) const {
    auto it = table_.find({name, type});
    if (it != table_.end()) return it->second;
    DnsLookupResult r;
    r.domain = name;
    r.type = type;
    r.outcome = DnsOutcome::resolver_error;
    r.error = "not in the fake resolver's table";
    return r;
  }

  std::map<std::pair<std::string, QueryType>, DnsLookupResult> table_;
  std::map<std::pair<std::string, QueryType>, std::size_t> queries_;
  std::size_t total_queries_ = 0;
  std::deque<Pending> pending_;
};

}  // namespace bulkq::testing
