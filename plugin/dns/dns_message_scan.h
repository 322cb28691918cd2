// DnsMessageScan: what a bounded walk over a raw DNS response says that c-ares 1.18's parsers
// do not: the RCODE, the TC bit, the smallest TTL of the answer records (ares_parse_mx_reply
// drops TTLs) and the negative-caching TTL from the authority section's SOA (RFC 2308 §5).
//
// The walker reads the header, skips the question section and reads each answer and authority
// record's type, class, TTL and RDLENGTH. Names are skipped label by label, compression-aware: a
// pointer ends a name (its target is checked to lie earlier in the message, as RFC 1035 §4.1.4
// requires a prior occurrence); it is never followed, so a pointer loop cannot make it spin.
// Every read is bounds-checked against the input; anything that does not fit is an error value.
//
// Input is untrusted (a resolver's answer, maybe forged): the walk is bounded by the input length
// (at most kMaxDnsMessageBytes) and by the record counts the header claims, each record consuming
// at least 11 bytes. Pure: no I/O, no state; callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace bulkq {

// A DNS message over UDP or TCP is at most 65535 bytes (the TCP length prefix is 16 bits).
inline constexpr std::size_t kMaxDnsMessageBytes = 65535;
inline constexpr std::size_t kDnsHeaderBytes = 12;

inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypeCname = 5;
inline constexpr std::uint16_t kDnsTypeSoa = 6;
inline constexpr std::uint16_t kDnsTypeMx = 15;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsClassIn = 1;

// The RCODEs bulkq's routing distinguishes (RFC 1035 §4.1.1); every other value is `other`.
enum class DnsRcode : std::uint8_t { noerror, formerr, servfail, nxdomain, notimp, refused, other };

[[nodiscard]] const char* to_string(DnsRcode rcode);

struct DnsMessageScan {
  DnsRcode rcode = DnsRcode::other;
  std::uint8_t rcode_value = 0;  // the raw 4-bit header RCODE
  bool truncated = false;        // TC: the answer was cut to fit a UDP datagram
  std::uint16_t answer_count = 0;
  // The smallest TTL over the answer section's records of class IN (any type: a CNAME on the
  // way to the MX limits how long the MX set may be believed); empty when there are none.
  std::optional<std::uint32_t> min_answer_ttl;
  // RFC 2308 §5: min(SOA record TTL, SOA MINIMUM) of the first SOA in the authority section;
  // empty when there is none.
  std::optional<std::uint32_t> negative_ttl;

  std::string error;  // set when !ok(): what is malformed and where
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Walks `message`; on error the fields read before the error are kept (the header's RCODE is
// useful even when the body is damaged).
[[nodiscard]] DnsMessageScan scan_dns_message(std::span<const std::uint8_t> message);

}  // namespace bulkq
