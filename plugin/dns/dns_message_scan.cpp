#include "dns/dns_message_scan.h"

#include <algorithm>

namespace bulkq {
namespace {

// A cursor that can only move forward and never past the end; every read says whether it fit.
class Cursor {
 public:
  explicit Cursor(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  [[nodiscard]] std::size_t at() const { return at_; }
  [[nodiscard]] std::size_t left() const { return bytes_.size() - at_; }

  [[nodiscard]] bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>(bytes_[at_] << 8 | bytes_[at_ + 1]);
    at_ += 2;
    return true;
  }
  [[nodiscard]] bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = static_cast<std::uint32_t>(bytes_[at_]) << 24 |
        static_cast<std::uint32_t>(bytes_[at_ + 1]) << 16 |
        static_cast<std::uint32_t>(bytes_[at_ + 2]) << 8 | bytes_[at_ + 3];
    at_ += 4;
    return true;
  }
  [[nodiscard]] bool skip(std::size_t n) {
    if (left() < n) return false;
    at_ += n;
    return true;
  }

  // Skips one (possibly compressed) domain name ending no later than `limit`. Returns an empty
  // string or what is wrong.
  [[nodiscard]] std::string skip_name(std::size_t limit) {
    const std::size_t start = at_;
    std::size_t wire_length = 0;
    for (;;) {
      if (at_ >= limit) return "name at offset " + std::to_string(start) + " runs past its end";
      const std::uint8_t len = bytes_[at_];
      if ((len & 0xc0U) == 0xc0U) {
        if (at_ + 2 > limit)
          return "compression pointer at offset " + std::to_string(at_) + " is cut";
        const std::size_t target = (std::size_t{len} & 0x3fU) << 8 | bytes_[at_ + 1];
        // A pointer must name a prior occurrence (RFC 1035 §4.1.4): anything else is forged.
        if (target >= start) {
          return "compression pointer at offset " + std::to_string(at_) + " points forward to " +
                 std::to_string(target);
        }
        at_ += 2;
        return {};
      }
      if ((len & 0xc0U) != 0) {
        return "name at offset " + std::to_string(start) + " has an unknown label type";
      }
      wire_length += 1U + len;
      if (wire_length > 255)
        return "name at offset " + std::to_string(start) + " exceeds 255 bytes";
      if (at_ + 1U + len > limit)
        return "label at offset " + std::to_string(at_) + " runs past its end";
      at_ += 1U + len;
      if (len == 0) return {};
    }
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
};

// RFC 2181 §8: a TTL with the top bit set is to be treated as zero.
std::uint32_t sane_ttl(std::uint32_t ttl) {
  return (ttl & 0x80000000U) != 0 ? 0 : ttl;
}

DnsRcode rcode_of(std::uint8_t value) {
  switch (value) {
    case 0:
      return DnsRcode::noerror;
    case 1:
      return DnsRcode::formerr;
    case 2:
      return DnsRcode::servfail;
    case 3:
      return DnsRcode::nxdomain;
    case 4:
      return DnsRcode::notimp;
    case 5:
      return DnsRcode::refused;
    default:
      return DnsRcode::other;
  }
}

struct RecordHead {
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;
  std::uint16_t rdlength = 0;
};

std::string read_record_head(Cursor& c, std::size_t size, const char* section, unsigned index,
                             RecordHead& head) {
  const std::string where = std::string(section) + " record " + std::to_string(index);
  if (std::string e = c.skip_name(size); !e.empty()) return where + ": " + e;
  if (!c.u16(head.type) || !c.u16(head.rclass) || !c.u32(head.ttl) || !c.u16(head.rdlength)) {
    return where + " is cut inside its fixed fields";
  }
  if (c.left() < head.rdlength) return where + "'s data runs past the end of the message";
  return {};
}

// The SOA's MINIMUM is the last of five 32-bit fields after two names (RFC 1035 §3.3.13).
std::string read_soa_minimum(Cursor c, std::size_t rdata_end, std::uint32_t& minimum) {
  if (std::string e = c.skip_name(rdata_end); !e.empty()) return "SOA MNAME: " + e;
  if (std::string e = c.skip_name(rdata_end); !e.empty()) return "SOA RNAME: " + e;
  if (rdata_end - c.at() != 20) return "SOA data has the wrong length after its names";
  if (!c.skip(16) || !c.u32(minimum)) return "SOA data is cut";
  return {};
}

}  // namespace

const char* to_string(DnsRcode rcode) {
  switch (rcode) {
    case DnsRcode::noerror:
      return "NOERROR";
    case DnsRcode::formerr:
      return "FORMERR";
    case DnsRcode::servfail:
      return "SERVFAIL";
    case DnsRcode::nxdomain:
      return "NXDOMAIN";
    case DnsRcode::notimp:
      return "NOTIMP";
    case DnsRcode::refused:
      return "REFUSED";
    case DnsRcode::other:
      break;
  }
  return "other";
}

DnsMessageScan scan_dns_message(std::span<const std::uint8_t> message) {
  DnsMessageScan out;
  if (message.size() > kMaxDnsMessageBytes) {
    out.error = "DNS message is " + std::to_string(message.size()) + " bytes, more than " +
                std::to_string(kMaxDnsMessageBytes);
    return out;
  }
  if (message.size() < kDnsHeaderBytes) {
    out.error = "DNS message is " + std::to_string(message.size()) +
                " bytes, shorter than its 12-byte header";
    return out;
  }
  const std::uint8_t flags1 = message[2];
  const std::uint8_t flags2 = message[3];
  out.rcode_value = flags2 & 0x0fU;
  out.rcode = rcode_of(out.rcode_value);
  out.truncated = (flags1 & 0x02U) != 0;
  if ((flags1 & 0x80U) == 0) {
    out.error = "DNS message is a query, not a response (QR is 0)";
    return out;
  }
  if ((flags1 >> 3 & 0x0fU) != 0) {
    out.error = "DNS response has opcode " + std::to_string(flags1 >> 3 & 0x0fU) + ", not QUERY";
    return out;
  }
  Cursor c(message);
  std::uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  if (!c.u16(id) || !c.u16(flags) || !c.u16(qdcount) || !c.u16(ancount) || !c.u16(nscount) ||
      !c.u16(arcount)) {
    out.error = "DNS header is cut";  // unreachable: the size was checked above
    return out;
  }
  out.answer_count = ancount;
  const std::size_t size = message.size();
  for (unsigned q = 0; q < qdcount; ++q) {
    if (std::string e = c.skip_name(size); !e.empty()) {
      out.error = "question " + std::to_string(q) + ": " + e;
      return out;
    }
    if (!c.skip(4)) {
      out.error = "question " + std::to_string(q) + " is cut inside its type and class";
      return out;
    }
  }
  for (unsigned a = 0; a < ancount; ++a) {
    RecordHead head;
    if (std::string e = read_record_head(c, size, "answer", a, head); !e.empty()) {
      out.error = e;
      return out;
    }
    if (head.rclass == kDnsClassIn) {
      const std::uint32_t ttl = sane_ttl(head.ttl);
      out.min_answer_ttl = out.min_answer_ttl ? std::min(*out.min_answer_ttl, ttl) : ttl;
    }
    (void)c.skip(head.rdlength);  // fits: read_record_head checked it
  }
  for (unsigned n = 0; n < nscount; ++n) {
    RecordHead head;
    if (std::string e = read_record_head(c, size, "authority", n, head); !e.empty()) {
      out.error = e;
      return out;
    }
    if (head.type == kDnsTypeSoa && head.rclass == kDnsClassIn && !out.negative_ttl) {
      std::uint32_t minimum = 0;
      if (std::string e = read_soa_minimum(c, c.at() + head.rdlength, minimum); !e.empty()) {
        out.error = "authority record " + std::to_string(n) + ": " + e;
        return out;
      }
      out.negative_ttl = std::min(sane_ttl(head.ttl), sane_ttl(minimum));
    }
    (void)c.skip(head.rdlength);
  }
  // The additional section is not read: nothing in it changes a TTL or an outcome.
  return out;
}

}  // namespace bulkq
