// Fuzzes the DNS cache record decoder, which reads bytes from LMDB that may be damaged on disk:
// no input may crash it, every record it accepts must re-encode to exactly the input bytes (the
// encoding is canonical), and the cache must take back whatever the decoder accepted.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dns/dns_cache.h"
#include "dns/dns_cache_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::DecodedDnsCacheRecord decoded = bulkq::decode_dns_cache_record(input);
  if (!decoded.ok()) return 0;
  const bulkq::EncodedDnsCacheRecord again = bulkq::encode_dns_cache_record(decoded.record);
  if (!again.ok() || again.bytes != input) std::abort();
  bulkq::DnsCache cache;
  if (!cache.restore("example.com", decoded.record).empty()) std::abort();
  const bulkq::DnsCacheLookup hit = cache.lookup("example.com", decoded.record.stored_at);
  if (hit.state != bulkq::DnsCacheState::missing && !(hit.record == decoded.record)) std::abort();
  (void)cache.refresh_due(decoded.record.stored_at, bulkq::Duration{60'000});
  (void)cache.purge(decoded.record.stored_at);
  return 0;
}
