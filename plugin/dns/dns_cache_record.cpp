#include "dns/dns_cache_record.h"

#include <algorithm>

namespace bulkq {
namespace {

// Spelt out, not cast, so renumbering the enum cannot change what is on disk.
std::uint8_t status_byte(RouteStatus status) {
  switch (status) {
    case RouteStatus::route:
      return 0;
    case RouteStatus::permanent_failure:
      return 1;
    case RouteStatus::temporary_failure:
      return 2;
  }
  return 2;
}

std::string check_name(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return std::string(what) + " is " + std::to_string(name.size()) + " bytes (expected 1 to 253)";
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) {
      return std::string(what) + " has byte " + std::to_string(static_cast<unsigned char>(c)) +
             " at position " + std::to_string(i) +
             " (expected lower-case letters, digits, '-' or '.')";
    }
  }
  return {};
}

std::string check_reason(std::string_view reason) {
  if (reason.size() > kMaxDnsReasonBytes) {
    return "reason is " + std::to_string(reason.size()) + " bytes, longer than " +
           std::to_string(kMaxDnsReasonBytes);
  }
  for (std::size_t i = 0; i < reason.size(); ++i) {
    const auto b = static_cast<unsigned char>(reason[i]);
    if (b < 0x20 || b > 0x7e) {
      return "reason has byte " + std::to_string(b) + " at position " + std::to_string(i) +
             " (expected printable ASCII)";
    }
  }
  return {};
}

std::string check_address(const IpAddress& a) {
  if (a.family == IpAddress::Family::v4) {
    if (std::any_of(a.bytes.begin() + 4, a.bytes.end(), [](std::uint8_t b) { return b != 0; })) {
      return "IPv4 address has bytes set beyond its first 4";
    }
    return {};
  }
  if (a.family != IpAddress::Family::v6) return "address has an unknown family";
  return {};
}

std::string check_host_count(RouteStatus status, std::size_t count) {
  if (status == RouteStatus::route && (count == 0 || count > kMaxRouteHosts)) {
    return "route has " + std::to_string(count) + " hosts (expected 1 to " +
           std::to_string(kMaxRouteHosts) + ")";
  }
  if (status != RouteStatus::route && count != 0) {
    return "failure has " + std::to_string(count) + " hosts (expected none)";
  }
  return {};
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>(v & 0xffU);
    v >>= 8;
  }
}

void put_time(std::string& out, TimePoint t) {
  put_le(out, static_cast<std::uint64_t>(t.time_since_epoch().count()), 8);
}

// A forward-only reader over the record; every read says whether it fit.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  [[nodiscard]] std::size_t left() const { return in_.size() - at_; }
  [[nodiscard]] std::size_t at() const { return at_; }
  [[nodiscard]] bool le(std::uint64_t& v, int bytes) {
    if (left() < static_cast<std::size_t>(bytes)) return false;
    v = 0;
    for (int i = bytes - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(in_[at_ + static_cast<std::size_t>(i)]);
    at_ += static_cast<std::size_t>(bytes);
    return true;
  }
  [[nodiscard]] bool time(TimePoint& t) {
    std::uint64_t v = 0;
    if (!le(v, 8)) return false;
    t = TimePoint{Duration{static_cast<std::int64_t>(v)}};
    return true;
  }
  [[nodiscard]] bool bytes(std::string_view& out, std::size_t n) {
    if (left() < n) return false;
    out = in_.substr(at_, n);
    at_ += n;
    return true;
  }

 private:
  std::string_view in_;
  std::size_t at_ = 0;
};

std::string cut(const Reader& r, std::string_view field) {
  return "DNS cache record is cut inside " + std::string(field) + " at byte " +
         std::to_string(r.at());
}

}  // namespace

TimePoint DnsCacheRecord::expires() const {
  TimePoint t = route_expires;
  for (const CachedHost& h : hosts)
    t = std::min(t, h.expires);
  return t;
}

std::string check_dns_cache_key(std::string_view domain) {
  return check_name("domain", domain);
}

std::string check_dns_cache_record(const DnsCacheRecord& record) {
  if (std::string e = check_reason(record.reason); !e.empty()) return e;
  if (std::string e = check_host_count(record.status, record.hosts.size()); !e.empty()) return e;
  for (const CachedHost& h : record.hosts) {
    if (std::string e = check_name("host name", h.name); !e.empty()) return e;
    if (h.addresses.size() > kMaxCachedAddressesPerHost) {
      return "host " + h.name + " has " + std::to_string(h.addresses.size()) +
             " addresses, more than " + std::to_string(kMaxCachedAddressesPerHost);
    }
    for (const IpAddress& a : h.addresses) {
      if (std::string e = check_address(a); !e.empty()) return "host " + h.name + ": " + e;
    }
  }
  return {};
}

EncodedDnsCacheRecord encode_dns_cache_record(const DnsCacheRecord& record) {
  EncodedDnsCacheRecord out;
  out.error = check_dns_cache_record(record);
  if (!out.ok()) return out;
  std::string& b = out.bytes;
  b += static_cast<char>(kDnsCacheRecordVersion);
  b += static_cast<char>(status_byte(record.status));
  put_time(b, record.stored_at);
  put_time(b, record.route_expires);
  put_le(b, record.reason.size(), 2);
  b += record.reason;
  b += static_cast<char>(record.hosts.size());
  for (const CachedHost& h : record.hosts) {
    b += static_cast<char>(h.name.size());
    b += h.name;
    put_le(b, h.preference, 2);
    b += static_cast<char>(h.implicit ? 1 : 0);
    put_time(b, h.expires);
    b += static_cast<char>(h.addresses.size());
    for (const IpAddress& a : h.addresses) {
      b += static_cast<char>(a.family == IpAddress::Family::v4 ? 4 : 6);
      for (std::uint8_t byte : a.bytes)
        b += static_cast<char>(byte);
    }
  }
  return out;
}

DecodedDnsCacheRecord decode_dns_cache_record(std::string_view in) {
  DecodedDnsCacheRecord out;
  if (in.empty()) {
    out.error = "DNS cache record is empty";
    return out;
  }
  // The version first: a newer bulkq's record may have any layout.
  const auto version = static_cast<std::uint8_t>(in[0]);
  if (version != kDnsCacheRecordVersion) {
    out.error = "DNS cache record has format version " + std::to_string(version) +
                "; this bulkq reads version " + std::to_string(kDnsCacheRecordVersion);
    return out;
  }
  Reader r(in.substr(1));
  DnsCacheRecord& rec = out.record;
  std::uint64_t v = 0;
  if (!r.le(v, 1)) {
    out.error = cut(r, "the status");
    return out;
  }
  switch (v) {
    case 0:
      rec.status = RouteStatus::route;
      break;
    case 1:
      rec.status = RouteStatus::permanent_failure;
      break;
    case 2:
      rec.status = RouteStatus::temporary_failure;
      break;
    default:
      out.error = "DNS cache record has unknown status " + std::to_string(v) +
                  " (expected 0 route, 1 permanent or 2 temporary failure)";
      return out;
  }
  if (!r.time(rec.stored_at) || !r.time(rec.route_expires)) {
    out.error = cut(r, "its times");
    return out;
  }
  std::string_view text;
  if (!r.le(v, 2) || !r.bytes(text, v)) {
    out.error = cut(r, "the reason");
    return out;
  }
  if (std::string e = check_reason(text); !e.empty()) {
    out.error = "DNS cache record " + e;
    return out;
  }
  rec.reason = std::string(text);
  if (!r.le(v, 1)) {
    out.error = cut(r, "the host count");
    return out;
  }
  if (std::string e = check_host_count(rec.status, v); !e.empty()) {
    out.error = "DNS cache record " + e;
    return out;
  }
  const std::size_t hosts = v;
  for (std::size_t i = 0; i < hosts; ++i) {
    CachedHost h;
    const std::string field = "host " + std::to_string(i);
    if (!r.le(v, 1) || !r.bytes(text, v)) {
      out.error = cut(r, field + "'s name");
      return out;
    }
    if (std::string e = check_name(field + " name", text); !e.empty()) {
      out.error = "DNS cache record " + e;
      return out;
    }
    h.name = std::string(text);
    if (!r.le(v, 2)) {
      out.error = cut(r, field + "'s preference");
      return out;
    }
    h.preference = static_cast<std::uint16_t>(v);
    if (!r.le(v, 1)) {
      out.error = cut(r, field + "'s flags");
      return out;
    }
    if (v > 1) {
      out.error = "DNS cache record " + field + " has unknown flags " + std::to_string(v);
      return out;
    }
    h.implicit = v == 1;
    if (!r.time(h.expires)) {
      out.error = cut(r, field + "'s expiry");
      return out;
    }
    if (!r.le(v, 1)) {
      out.error = cut(r, field + "'s address count");
      return out;
    }
    if (v > kMaxCachedAddressesPerHost) {
      out.error = "DNS cache record " + field + " has " + std::to_string(v) +
                  " addresses, more than " + std::to_string(kMaxCachedAddressesPerHost);
      return out;
    }
    const std::size_t addresses = v;
    for (std::size_t a = 0; a < addresses; ++a) {
      IpAddress address;
      if (!r.le(v, 1) || !r.bytes(text, 16)) {
        out.error = cut(r, field + "'s address " + std::to_string(a));
        return out;
      }
      if (v != 4 && v != 6) {
        out.error = "DNS cache record " + field + " address " + std::to_string(a) + " has family " +
                    std::to_string(v) + " (expected 4 or 6)";
        return out;
      }
      address.family = v == 4 ? IpAddress::Family::v4 : IpAddress::Family::v6;
      std::copy(text.begin(), text.end(), address.bytes.begin());
      if (std::string e = check_address(address); !e.empty()) {
        out.error = "DNS cache record " + field + ": " + e;
        return out;
      }
      h.addresses.push_back(address);
    }
    rec.hosts.push_back(std::move(h));
  }
  if (r.left() != 0) {
    out.error = "DNS cache record has " + std::to_string(r.left()) + " bytes after its last field";
    return out;
  }
  return out;
}

}  // namespace bulkq
