// Fuzzes the DNS answer decoders, which read bytes a resolver (or a forger) sent: no input may
// crash them or make c-ares read out of bounds, the number of records kept stays bounded, and
// the routing decision built from any MX answer keeps its promises.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "dns/dns_answer.h"
#include "dns/dns_message_scan.h"
#include "dns/mx_route.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> message(data, size);
  const bulkq::DnsMessageScan scan = bulkq::scan_dns_message(message);
  if (!scan.ok() && scan.error.empty()) std::abort();

  const bulkq::MxAnswer mx = bulkq::decode_mx_answer(message);
  if (mx.records.size() > bulkq::kMaxMxRecords) std::abort();
  if ((mx.outcome == bulkq::DnsOutcome::records) == mx.records.empty()) std::abort();
  for (std::size_t i = 1; i < mx.records.size(); ++i) {
    if (mx.records[i - 1].preference > mx.records[i].preference) std::abort();
  }
  const bulkq::MxRoute route =
      bulkq::route_domain("example.com", mx, [](std::size_t n) { return n / 2; });
  if (route.hosts.size() > bulkq::kMaxRouteHosts) std::abort();
  if ((route.status == bulkq::RouteStatus::route) == route.hosts.empty()) std::abort();

  for (const bulkq::AddressAnswer& a :
       {bulkq::decode_a_answer(message), bulkq::decode_aaaa_answer(message)}) {
    if (a.addresses.size() > bulkq::kMaxAddressesPerFamily) std::abort();
    if ((a.outcome == bulkq::DnsOutcome::records) == a.addresses.empty()) std::abort();
    if (a.outcome == bulkq::DnsOutcome::records && !a.ttl) std::abort();
  }
  return 0;
}
