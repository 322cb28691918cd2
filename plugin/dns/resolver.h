// Resolver: the DNS effect seam — ask for one name's MX, A or AAAA records and be called back
// with the decoded answer (dns_answer.h's DnsOutcome, the records, their TTL).
//
// Thread: an implementation belongs to one event-loop thread (CaresResolver: the thread that runs
// its io_context). resolve() is called on that thread and every callback runs on it, never inside
// resolve() itself, so a caller may hold its own state across the call. A fake for unit tests
// implements the same interface and answers from a table.
//
// What is promised:
//   - each resolve() gets exactly one callback while the resolver lives; a lookup that cannot
//     even be asked (bad name, no servers) is answered with DnsOutcome::resolver_error;
//   - destroying the resolver cancels every lookup in flight: their callbacks are destroyed
//     without being called, and none runs afterwards. Callbacks must not destroy the resolver
//     themselves (post that to the event loop instead) and must not throw (CaresResolver calls
//     them from c-ares's C frames, so a throw terminates the process).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/dns_answer.h"
#include "dns/dns_message_scan.h"
#include "dns/ip_address.h"

namespace bulkq {

enum class QueryType : std::uint8_t { mx, a, aaaa };

[[nodiscard]] const char* to_string(QueryType type);

// One lookup's result: the decoded answer of the type asked for.
struct DnsLookupResult {
  std::string domain;  // as asked
  QueryType type = QueryType::mx;
  DnsOutcome outcome = DnsOutcome::resolver_error;
  DnsRcode rcode = DnsRcode::other;  // `other` when no response was read (timeouts, errors)
  std::vector<MxRecord> mx;          // type mx, outcome records: in preference order
  std::vector<IpAddress> addresses;  // type a/aaaa, outcome records: in answer order
  // records: the smallest answer TTL; nodata/nxdomain: the SOA negative TTL when present.
  std::optional<std::uint32_t> ttl;
  std::string error;  // malformed, resolver_error, timeout: why (for the log line)

  // The MX answer in dns_answer.h's shape, for route_domain(); meaningful for type mx.
  [[nodiscard]] MxAnswer mx_answer() const { return MxAnswer{outcome, rcode, mx, ttl, error}; }
};

using ResolveCallback = std::function<void(DnsLookupResult)>;

class Resolver {
 public:
  virtual ~Resolver() = default;

  // Looks up `domain` (a host or domain name, without a trailing dot) and calls `callback` once
  // with the result, later, on the resolver's thread.
  virtual void resolve(std::string domain, QueryType type, ResolveCallback callback) = 0;
};

using ResolverPtr = std::unique_ptr<Resolver>;

}  // namespace bulkq
