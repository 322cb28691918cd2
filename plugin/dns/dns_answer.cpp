#include "dns/dns_answer.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace bulkq {
namespace {

// The outcome for a response whose RCODE is not NOERROR; nullopt for NOERROR.
std::optional<DnsOutcome> outcome_of_rcode(DnsRcode rcode) {
  switch (rcode) {
    case DnsRcode::noerror:
      return std::nullopt;
    case DnsRcode::nxdomain:
      return DnsOutcome::nxdomain;
    case DnsRcode::servfail:
      return DnsOutcome::servfail;
    case DnsRcode::refused:
      return DnsOutcome::refused;
    case DnsRcode::formerr:
    case DnsRcode::notimp:
    case DnsRcode::other:
      break;
  }
  return DnsOutcome::other_rcode;
}

// What every decoder does before handing the bytes to c-ares: the walk, and the answers that
// need no record parsing. Returns true when the caller should parse the records.
template <typename Answer>
bool pre_decode(const DnsMessageScan& scan, Answer& out) {
  out.rcode = scan.rcode;
  if (!scan.ok()) {
    out.outcome = DnsOutcome::malformed;
    out.error = scan.error;
    return false;
  }
  if (const auto outcome = outcome_of_rcode(scan.rcode)) {
    out.outcome = *outcome;
    if (*outcome == DnsOutcome::nxdomain) out.ttl = scan.negative_ttl;
    return false;
  }
  return true;
}

// What a c-ares parser status means for a NOERROR response.
template <typename Answer>
void post_parse_failure(int status, const DnsMessageScan& scan, Answer& out) {
  if (status == ARES_ENODATA) {
    out.outcome = DnsOutcome::nodata;
    out.ttl = scan.negative_ttl;
    return;
  }
  out.outcome = DnsOutcome::malformed;
  out.error = std::string("c-ares: ") + ares_strerror(status);
}

int length_of(std::span<const std::uint8_t> message) {
  return static_cast<int>(message.size());  // <= kMaxDnsMessageBytes: scan_dns_message checked
}

template <typename AddrTtl, typename Parse, typename Convert>
AddressAnswer decode_addresses(std::span<const std::uint8_t> message, Parse parse,
                               Convert convert) {
  AddressAnswer out;
  const DnsMessageScan scan = scan_dns_message(message);
  if (!pre_decode(scan, out)) return out;
  std::array<AddrTtl, kMaxAddressesPerFamily> ttls{};
  int count = static_cast<int>(ttls.size());  // in: room; out: how many were written
  hostent* host = nullptr;
  const int status = parse(message.data(), length_of(message), &host, ttls.data(), &count);
  if (host != nullptr) ares_free_hostent(host);
  if (status != ARES_SUCCESS) {
    post_parse_failure(status, scan, out);
    return out;
  }
  count = std::clamp(count, 0, static_cast<int>(ttls.size()));
  if (count == 0) {
    out.outcome = DnsOutcome::nodata;
    out.ttl = scan.negative_ttl;
    return out;
  }
  out.outcome = DnsOutcome::records;
  for (int i = 0; i < count; ++i) {
    const AddrTtl& a = ttls[static_cast<std::size_t>(i)];
    out.addresses.push_back(convert(a));
    const auto ttl = static_cast<std::uint32_t>(std::max(a.ttl, 0));
    out.ttl = out.ttl ? std::min(*out.ttl, ttl) : ttl;
  }
  return out;
}

}  // namespace

const char* to_string(DnsOutcome outcome) {
  switch (outcome) {
    case DnsOutcome::records:
      return "records";
    case DnsOutcome::nodata:
      return "no data";
    case DnsOutcome::nxdomain:
      return "no such domain";
    case DnsOutcome::servfail:
      return "server failure";
    case DnsOutcome::refused:
      return "refused";
    case DnsOutcome::other_rcode:
      return "error reply";
    case DnsOutcome::malformed:
      return "malformed reply";
    case DnsOutcome::timeout:
      return "timeout";
    case DnsOutcome::resolver_error:
      return "resolver error";
  }
  return "?";
}

DnsOutcome outcome_from_ares_status(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsOutcome::records;
    case ARES_ENODATA:
      return DnsOutcome::nodata;
    case ARES_ENOTFOUND:
      return DnsOutcome::nxdomain;
    case ARES_ESERVFAIL:
      return DnsOutcome::servfail;
    case ARES_EREFUSED:
      return DnsOutcome::refused;
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
      return DnsOutcome::other_rcode;
    case ARES_EBADRESP:
      return DnsOutcome::malformed;
    case ARES_ETIMEOUT:
      return DnsOutcome::timeout;
    default:
      return DnsOutcome::resolver_error;
  }
}

MxAnswer decode_mx_answer(std::span<const std::uint8_t> message) {
  MxAnswer out;
  const DnsMessageScan scan = scan_dns_message(message);
  if (!pre_decode(scan, out)) return out;
  ares_mx_reply* list = nullptr;
  const int status = ares_parse_mx_reply(message.data(), length_of(message), &list);
  if (status != ARES_SUCCESS) {
    if (list != nullptr) ares_free_data(list);
    post_parse_failure(status, scan, out);
    return out;
  }
  // Bounded by the message: every MX record takes at least 13 bytes of it.
  for (const ares_mx_reply* mx = list; mx != nullptr; mx = mx->next) {
    std::string exchange = mx->host != nullptr ? mx->host : "";
    // c-ares expands the root name to "": spell it "." so a null MX (RFC 7505) reads as one.
    if (exchange.empty()) exchange = ".";
    out.records.push_back(MxRecord{mx->priority, std::move(exchange)});
  }
  ares_free_data(list);
  if (out.records.empty()) {
    out.outcome = DnsOutcome::nodata;
    out.ttl = scan.negative_ttl;
    return out;
  }
  std::stable_sort(
      out.records.begin(), out.records.end(),
      [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  if (out.records.size() > kMaxMxRecords) out.records.resize(kMaxMxRecords);
  out.outcome = DnsOutcome::records;
  out.ttl = scan.min_answer_ttl;
  return out;
}

AddressAnswer decode_a_answer(std::span<const std::uint8_t> message) {
  return decode_addresses<ares_addrttl>(message, ares_parse_a_reply, [](const ares_addrttl& a) {
    std::array<std::uint8_t, 4> b{};
    static_assert(sizeof a.ipaddr == 4);
    std::memcpy(b.data(), &a.ipaddr, 4);
    return IpAddress::v4(b);
  });
}

AddressAnswer decode_aaaa_answer(std::span<const std::uint8_t> message) {
  return decode_addresses<ares_addr6ttl>(message, ares_parse_aaaa_reply,
                                         [](const ares_addr6ttl& a) {
                                           std::array<std::uint8_t, 16> b{};
                                           static_assert(sizeof a.ip6addr == 16);
                                           std::memcpy(b.data(), &a.ip6addr, 16);
                                           return IpAddress::v6(b);
                                         });
}

}  // namespace bulkq
