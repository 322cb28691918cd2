#include "dns/dns_answer.h"

#include <ares.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/dns_message_scan.h"

using namespace bulkq;

namespace {

// Builds DNS messages byte by byte, as a server would put them on the wire.
class Wire {
 public:
  // flags: QR=1, RD, RA; rcode in the low bits.
  Wire(std::uint16_t qd, std::uint16_t an, std::uint16_t ns, std::uint8_t rcode = 0) {
    u16(0x1234);
    u8(0x81);
    u8(static_cast<std::uint8_t>(0x80 | rcode));
    u16(qd);
    u16(an);
    u16(ns);
    u16(0);
  }
  std::size_t here() const { return b.size(); }
  Wire& u8(std::uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Wire& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(v & 0xff); }
  Wire& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)).u16(v & 0xffff); }
  // Labels of `dotted`, then the root byte or a pointer to `pointer` when given.
  Wire& name(const std::string& dotted, int pointer = -1) {
    std::size_t start = 0;
    while (start < dotted.size()) {
      std::size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      u8(static_cast<std::uint8_t>(dot - start));
      for (std::size_t i = start; i < dot; ++i)
        u8(static_cast<std::uint8_t>(dotted[i]));
      start = dot + 1;
    }
    if (pointer >= 0) return u16(static_cast<std::uint16_t>(0xc000 | pointer));
    return u8(0);
  }
  Wire& pointer(std::uint16_t to) { return u16(static_cast<std::uint16_t>(0xc000 | to)); }
  Wire& question(const std::string& qname, std::uint16_t type) {
    return name(qname).u16(type).u16(kDnsClassIn);
  }
  // An RR owned by the name at `owner` (a pointer), its fixed fields; rdata follows.
  Wire& rr(std::uint16_t owner, std::uint16_t type, std::uint32_t ttl, std::uint16_t rdlength) {
    return pointer(owner).u16(type).u16(kDnsClassIn).u32(ttl).u16(rdlength);
  }

  std::vector<std::uint8_t> b;
};

constexpr std::uint16_t kQname = 12;  // the question's name always starts right after the header

// example.com MX: 10 mx1.example.com (TTL 3600), 5 mx2.example.com (TTL 300), compressed.
std::vector<std::uint8_t> mx_response() {
  Wire w(1, 2, 0);
  w.question("example.com", kDnsTypeMx);
  w.rr(kQname, kDnsTypeMx, 3600, 2 + 4 + 2).u16(10).name("mx1", kQname);
  w.rr(kQname, kDnsTypeMx, 300, 2 + 4 + 2).u16(5).name("mx2", kQname);
  return w.b;
}

// An authority-section SOA for "com" (offset 20 in a message asking for example.com).
void add_soa(Wire& w, std::uint32_t ttl, std::uint32_t minimum) {
  const std::uint16_t com = kQname + 8;
  w.rr(com, kDnsTypeSoa, ttl, (3 + 2) + (11 + 2) + 20);
  w.name("ns", com).name("hostmaster", com);
  w.u32(2026112901).u32(7200).u32(900).u32(1209600).u32(minimum);
}

}  // namespace

TEST_CASE("an MX answer with compression pointers decodes sorted, with the smallest TTL", "[dns]") {
  const MxAnswer mx = decode_mx_answer(mx_response());
  REQUIRE(mx.outcome == DnsOutcome::records);
  CHECK(mx.rcode == DnsRcode::noerror);
  REQUIRE(mx.records.size() == 2);
  CHECK(mx.records[0] == MxRecord{5, "mx2.example.com"});
  CHECK(mx.records[1] == MxRecord{10, "mx1.example.com"});
  CHECK(mx.ttl == std::optional<std::uint32_t>(300));
}

TEST_CASE("a null MX decodes with the exchange spelt '.'", "[dns]") {
  Wire w(1, 1, 0);
  w.question("example.com", kDnsTypeMx);
  w.rr(kQname, kDnsTypeMx, 86400, 3).u16(0).u8(0);
  const MxAnswer mx = decode_mx_answer(w.b);
  REQUIRE(mx.outcome == DnsOutcome::records);
  REQUIRE(mx.records.size() == 1);
  CHECK(mx.records[0] == MxRecord{0, "."});
  CHECK(mx.ttl == std::optional<std::uint32_t>(86400));
}

TEST_CASE("a CNAME on the way to the MX set limits its TTL", "[dns]") {
  Wire w(1, 2, 0);
  w.question("example.com", kDnsTypeMx);
  const std::size_t target = w.here() + 12;  // where the CNAME's rdata starts
  w.rr(kQname, kDnsTypeCname, 60, 6 + 2).name("alias", kQname);
  w.rr(static_cast<std::uint16_t>(target), kDnsTypeMx, 3600, 2 + 3 + 2).u16(1).name("mx", kQname);
  const MxAnswer mx = decode_mx_answer(w.b);
  REQUIRE(mx.outcome == DnsOutcome::records);
  REQUIRE(mx.records.size() == 1);
  CHECK(mx.records[0] == MxRecord{1, "mx.example.com"});
  CHECK(mx.ttl == std::optional<std::uint32_t>(60));
}

TEST_CASE("a TTL with its top bit set counts as zero (RFC 2181 §8)", "[dns]") {
  Wire w(1, 1, 0);
  w.question("example.com", kDnsTypeMx);
  w.rr(kQname, kDnsTypeMx, 0x80000010U, 2 + 2).u16(1).pointer(kQname);
  const MxAnswer mx = decode_mx_answer(w.b);
  REQUIRE(mx.outcome == DnsOutcome::records);
  CHECK(mx.ttl == std::optional<std::uint32_t>(0));
}

TEST_CASE("A and AAAA answers decode to addresses with their TTLs", "[dns]") {
  SECTION("A") {
    Wire w(1, 2, 0);
    w.question("mx1.example.com", kDnsTypeA);
    w.rr(kQname, kDnsTypeA, 600, 4).u8(192).u8(0).u8(2).u8(1);
    w.rr(kQname, kDnsTypeA, 120, 4).u8(127).u8(0).u8(0).u8(5);
    const AddressAnswer a = decode_a_answer(w.b);
    REQUIRE(a.outcome == DnsOutcome::records);
    REQUIRE(a.addresses.size() == 2);
    CHECK(a.addresses[0].to_string() == "192.0.2.1");
    CHECK(a.addresses[1].to_string() == "127.0.0.5");
    CHECK(a.addresses[1] == IpAddress::v4({127, 0, 0, 5}));
    CHECK(a.ttl == std::optional<std::uint32_t>(120));
  }
  SECTION("AAAA") {
    Wire w(1, 1, 0);
    w.question("mx1.example.com", kDnsTypeAaaa);
    w.rr(kQname, kDnsTypeAaaa, 86400, 16);
    for (std::uint8_t b : {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
      w.u8(b);
    const AddressAnswer a = decode_aaaa_answer(w.b);
    REQUIRE(a.outcome == DnsOutcome::records);
    REQUIRE(a.addresses.size() == 1);
    CHECK(a.addresses[0].family == IpAddress::Family::v6);
    CHECK(a.addresses[0].to_string() == "2001:db8::1");
    CHECK(a.ttl == std::optional<std::uint32_t>(86400));
  }
  SECTION("more addresses than kept are dropped") {
    Wire w(1, 40, 0);
    w.question("big.example.com", kDnsTypeA);
    for (std::uint8_t i = 0; i < 40; ++i)
      w.rr(kQname, kDnsTypeA, 300, 4).u8(10).u8(0).u8(0).u8(i);
    const AddressAnswer a = decode_a_answer(w.b);
    REQUIRE(a.outcome == DnsOutcome::records);
    CHECK(a.addresses.size() == kMaxAddressesPerFamily);
  }
}

TEST_CASE("NXDOMAIN and NODATA carry the SOA negative TTL", "[dns]") {
  SECTION("NXDOMAIN: min(SOA TTL, MINIMUM)") {
    Wire w(1, 0, 1, 3);
    w.question("example.com", kDnsTypeMx);
    add_soa(w, 900, 300);
    const MxAnswer mx = decode_mx_answer(w.b);
    CHECK(mx.outcome == DnsOutcome::nxdomain);
    CHECK(mx.rcode == DnsRcode::nxdomain);
    CHECK(mx.ttl == std::optional<std::uint32_t>(300));
    CHECK(decode_a_answer(w.b).outcome == DnsOutcome::nxdomain);
  }
  SECTION("NODATA: the SOA's own TTL when it is smaller") {
    Wire w(1, 0, 1, 0);
    w.question("example.com", kDnsTypeMx);
    add_soa(w, 60, 3600);
    const MxAnswer mx = decode_mx_answer(w.b);
    CHECK(mx.outcome == DnsOutcome::nodata);
    CHECK(mx.ttl == std::optional<std::uint32_t>(60));
    const AddressAnswer a = decode_a_answer(w.b);
    CHECK(a.outcome == DnsOutcome::nodata);
    CHECK(a.ttl == std::optional<std::uint32_t>(60));
  }
  SECTION("no SOA: no negative TTL") {
    Wire w(1, 0, 0, 3);
    w.question("example.com", kDnsTypeMx);
    const MxAnswer mx = decode_mx_answer(w.b);
    CHECK(mx.outcome == DnsOutcome::nxdomain);
    CHECK_FALSE(mx.ttl.has_value());
  }
}

TEST_CASE("server failure RCODEs become their outcomes", "[dns]") {
  const std::pair<std::uint8_t, DnsOutcome> cases[] = {{2, DnsOutcome::servfail},
                                                       {5, DnsOutcome::refused},
                                                       {1, DnsOutcome::other_rcode},
                                                       {4, DnsOutcome::other_rcode},
                                                       {9, DnsOutcome::other_rcode}};
  for (const auto& [rcode, outcome] : cases) {
    CAPTURE(rcode);
    Wire w(1, 0, 0, rcode);
    w.question("example.com", kDnsTypeMx);
    CHECK(decode_mx_answer(w.b).outcome == outcome);
    CHECK(decode_aaaa_answer(w.b).outcome == outcome);
  }
}

TEST_CASE("every truncation of a valid answer is refused as malformed", "[dns]") {
  const std::vector<std::uint8_t> full = mx_response();
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const std::span<const std::uint8_t> cut(full.data(), n);
    const MxAnswer mx = decode_mx_answer(cut);
    CHECK(mx.outcome == DnsOutcome::malformed);
    CHECK_FALSE(mx.error.empty());
    CHECK(decode_a_answer(cut).outcome == DnsOutcome::malformed);
  }
}

TEST_CASE("garbage and forged messages are refused with a reason", "[dns]") {
  SECTION("a query, not a response") {
    std::vector<std::uint8_t> b = mx_response();
    b[2] &= 0x7f;
    CHECK_THAT(decode_mx_answer(b).error, Catch::Contains("query"));
  }
  SECTION("a pointer to itself (a loop)") {
    Wire w(1, 0, 0);
    w.pointer(kQname).u16(kDnsTypeMx).u16(kDnsClassIn);
    CHECK_THAT(decode_mx_answer(w.b).error, Catch::Contains("points forward"));
  }
  SECTION("a forward pointer") {
    Wire w(1, 0, 0);
    w.pointer(40).u16(kDnsTypeMx).u16(kDnsClassIn);
    CHECK(decode_mx_answer(w.b).outcome == DnsOutcome::malformed);
  }
  SECTION("an unknown label type") {
    Wire w(1, 0, 0);
    w.u8(0x41).u16(kDnsTypeMx).u16(kDnsClassIn);
    CHECK_THAT(decode_mx_answer(w.b).error, Catch::Contains("label type"));
  }
  SECTION("record data longer than the message") {
    Wire w(1, 1, 0);
    w.question("example.com", kDnsTypeMx);
    w.rr(kQname, kDnsTypeMx, 60, 200).u16(1).pointer(kQname);
    CHECK_THAT(decode_mx_answer(w.b).error, Catch::Contains("past the end"));
  }
  SECTION("an MX record too short for its preference") {
    Wire w(1, 1, 0);
    w.question("example.com", kDnsTypeMx);
    w.rr(kQname, kDnsTypeMx, 60, 1).u8(0);
    CHECK(decode_mx_answer(w.b).outcome == DnsOutcome::malformed);
  }
  SECTION("more than 65535 bytes") {
    std::vector<std::uint8_t> b = mx_response();
    b.resize(kMaxDnsMessageBytes + 1);
    CHECK(decode_mx_answer(b).outcome == DnsOutcome::malformed);
  }
  SECTION("two questions: c-ares refuses it") {
    Wire w(2, 0, 0);
    w.question("example.com", kDnsTypeMx).question("example.net", kDnsTypeMx);
    CHECK(decode_mx_answer(w.b).outcome == DnsOutcome::malformed);
  }
}

TEST_CASE("c-ares statuses without bytes map to outcomes", "[dns]") {
  CHECK(outcome_from_ares_status(ARES_ETIMEOUT) == DnsOutcome::timeout);
  CHECK(outcome_from_ares_status(ARES_ENOTFOUND) == DnsOutcome::nxdomain);
  CHECK(outcome_from_ares_status(ARES_ENODATA) == DnsOutcome::nodata);
  CHECK(outcome_from_ares_status(ARES_ESERVFAIL) == DnsOutcome::servfail);
  CHECK(outcome_from_ares_status(ARES_EREFUSED) == DnsOutcome::refused);
  CHECK(outcome_from_ares_status(ARES_ECONNREFUSED) == DnsOutcome::resolver_error);
  CHECK(outcome_from_ares_status(ARES_ECANCELLED) == DnsOutcome::resolver_error);
}
