// DnsCacheRecord: what the offline DNS cache keeps for one destination domain, and its bytes
// for LMDB, so a restarted bulkqd starts with a warm cache.
//
// A record is the routing decision (route, permanent or temporary failure) with, for a route,
// each host to try and its addresses, and the absolute times at which the MX answer and each
// host's addresses expire. The key is the canonical domain itself (normalise_domain's output).
//
// Encoding, version 1 — fixed-width little-endian fields, no padding, no alignment assumed:
//
//   size  field
//   1     format version (1)
//   1     status: 0 route, 1 permanent failure, 2 temporary failure
//   8     stored at, milliseconds since the Unix epoch (i64)
//   8     route expires, milliseconds since the Unix epoch (i64)
//   2     reason length R (0..kMaxDnsReasonBytes)
//   R     reason (printable ASCII)
//   1     host count H (route: 1..kMaxRouteHosts; failures: 0)
//   H times:
//     1     name length N (1..253)
//     N     host name (lower-case letters, digits, '-', '.')
//     2     preference (u16)
//     1     flags: bit 0 implicit MX; other bits zero
//     8     addresses expire, milliseconds since the Unix epoch (i64)
//     1     address count A (0..kMaxCachedAddressesPerHost)
//     17*A  family (4 or 6) then 16 address bytes; IPv4 uses the first 4, the other 12 are zero
//
// The decoder treats its input as untrusted (the database can be damaged on disk): bounded by
// the input length, every field checked, a clear error, never a read past the end, no trailing
// bytes. Every record it accepts re-encodes to exactly the same bytes. Pure; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "dns/dns_answer.h"
#include "dns/ip_address.h"
#include "dns/mx_route.h"

namespace bulkq {

inline constexpr std::uint8_t kDnsCacheRecordVersion = 1;
inline constexpr std::size_t kMaxDnsReasonBytes = 512;
inline constexpr std::size_t kMaxCachedAddressesPerHost = 2 * kMaxAddressesPerFamily;

struct CachedHost {
  std::string name;
  std::uint16_t preference = 0;
  bool implicit = false;
  TimePoint expires{};               // when `addresses` must be asked for again
  std::vector<IpAddress> addresses;  // empty: none known (the host is skipped until refreshed)

  friend bool operator==(const CachedHost&, const CachedHost&) = default;
};

struct DnsCacheRecord {
  RouteStatus status = RouteStatus::temporary_failure;
  std::string reason;  // failures: why; routes: usually empty
  TimePoint stored_at{};
  TimePoint route_expires{};
  std::vector<CachedHost> hosts;  // route: in the order to try

  // The earliest expiry of the route and of every host's addresses: the record is fresh before.
  [[nodiscard]] TimePoint expires() const;

  friend bool operator==(const DnsCacheRecord&, const DnsCacheRecord&) = default;
};

// Empty when `record` can be encoded; otherwise what is wrong with it.
[[nodiscard]] std::string check_dns_cache_record(const DnsCacheRecord& record);

struct EncodedDnsCacheRecord {
  std::string bytes;  // set when ok()
  std::string error;  // set when !ok(); nothing is encoded
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] EncodedDnsCacheRecord encode_dns_cache_record(const DnsCacheRecord& record);

struct DecodedDnsCacheRecord {
  DnsCacheRecord record;  // set when ok()
  std::string error;      // set when !ok(): which field is wrong and how
  [[nodiscard]] bool ok() const { return error.empty(); }
};

[[nodiscard]] DecodedDnsCacheRecord decode_dns_cache_record(std::string_view bytes);

// Empty when `domain` can be a key (1..253 bytes of lower-case letters, digits, '-', '.').
[[nodiscard]] std::string check_dns_cache_key(std::string_view domain);

}  // namespace bulkq
