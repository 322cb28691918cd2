// DNS answers: the raw response bytes an ares_query callback receives, decoded into plain values.
//
// The records themselves are read by c-ares's own parsers (ares_parse_mx_reply,
// ares_parse_a_reply, ares_parse_aaaa_reply); what they do not report — the RCODE, the MX TTL,
// the negative TTL of an NXDOMAIN/NODATA answer — comes from scan_dns_message(). Each decoder
// returns one DnsOutcome and, when there are records, the records with the TTL they may be
// believed for. Errors are values: malformed bytes give DnsOutcome::malformed with a reason.
//
// Input is untrusted: at most kMaxDnsMessageBytes are looked at, and the number of records kept
// is bounded (kMaxMxRecords, kMaxAddressesPerFamily; the rest are dropped, lowest preference
// first for MX). c-ares already checked, before calling back, that the response answers the
// question it asked, so the decoders do not compare names.
//
// Pure: no sockets, no global state (the parsers only allocate); callable from any thread,
// normally the event-loop thread that owns the c-ares channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dns/dns_message_scan.h"
#include "dns/ip_address.h"

namespace bulkq {

inline constexpr std::size_t kMaxMxRecords = 32;
inline constexpr std::size_t kMaxAddressesPerFamily = 32;

// What one DNS lookup came to. `timeout` and `resolver_error` never come from bytes: they are
// what c-ares reports when there is no usable answer at all (outcome_from_ares_status).
enum class DnsOutcome : std::uint8_t {
  records,         // NOERROR with records of the asked type
  nodata,          // NOERROR, the name exists, no records of the asked type (RFC 2308 §2.2)
  nxdomain,        // the name does not exist
  servfail,        // the server failed (RCODE 2)
  refused,         // the server refused (RCODE 5)
  other_rcode,     // FORMERR, NOTIMP or another RCODE
  malformed,       // the bytes are not a response bulkq can read
  timeout,         // no answer in time
  resolver_error,  // c-ares could not ask (no servers, connection refused, out of memory,
                   // cancelled)
};

[[nodiscard]] const char* to_string(DnsOutcome outcome);

// The outcome for an ares_query callback whose status is not ARES_SUCCESS and that brought no
// decodable bytes (ARES_ETIMEOUT, ARES_ECONNREFUSED, ...). ARES_ENOTFOUND → nxdomain,
// ARES_ENODATA → nodata, ARES_ESERVFAIL → servfail, ARES_EREFUSED → refused.
[[nodiscard]] DnsOutcome outcome_from_ares_status(int ares_status);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // as c-ares expanded it, without a trailing dot; the root is "."

  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

struct MxAnswer {
  DnsOutcome outcome = DnsOutcome::malformed;
  DnsRcode rcode = DnsRcode::other;
  std::vector<MxRecord> records;  // when outcome == records: in preference order (stable)
  // records: the smallest answer TTL. nodata/nxdomain: the SOA negative TTL, when present.
  std::optional<std::uint32_t> ttl;
  std::string error;  // malformed: why
};

struct AddressAnswer {
  DnsOutcome outcome = DnsOutcome::malformed;
  DnsRcode rcode = DnsRcode::other;
  std::vector<IpAddress> addresses;  // when outcome == records, in answer order
  std::optional<std::uint32_t>
      ttl;  // as for MxAnswer (A/AAAA TTLs as c-ares capped them by CNAMEs)
  std::string error;
};

[[nodiscard]] MxAnswer decode_mx_answer(std::span<const std::uint8_t> message);
[[nodiscard]] AddressAnswer decode_a_answer(std::span<const std::uint8_t> message);
[[nodiscard]] AddressAnswer decode_aaaa_answer(std::span<const std::uint8_t> message);

}  // namespace bulkq
