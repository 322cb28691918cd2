#include "postfix/hashed_queue_path.h"

#include <cstdint>
#include <cstdio>

namespace bulkq {

namespace {

// Postfix's "safe" alphabet for long queue ids (src/global/safe_ultostr.c): digits, then the
// consonants, upper case and lower case, so no word can be spelled.
constexpr std::string_view kSafeAlphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
constexpr std::size_t kLongTimeWidth = 10;  // 6 characters of seconds, 4 of microseconds
constexpr std::size_t kLongUsecWidth = 4;
constexpr std::uint32_t kLongUsecBase = 52;

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string queue_hash_source(std::string_view queue_id) {
  const std::size_t z = queue_id.rfind('z');
  if (z == std::string_view::npos || z < kLongTimeWidth) return std::string(queue_id);
  std::uint64_t usec = 0;
  for (const char c : queue_id.substr(z - kLongUsecWidth, kLongUsecWidth)) {
    const std::size_t digit = kSafeAlphabet.find(c);
    if (digit == std::string_view::npos || digit >= kLongUsecBase) {
      usec = 0;  // as Postfix: a field that does not decode hashes as 0
      break;
    }
    usec = usec * kLongUsecBase + digit;
  }
  char hex[24];
  const int n = std::snprintf(hex, sizeof hex, "%05X", static_cast<unsigned>(usec));
  return std::string(hex, static_cast<std::size_t>(n));
}

std::string hashed_queue_directory(std::string_view queue_name, std::string_view queue_id,
                                   const std::vector<std::string>& hash_queue_names, int depth) {
  std::string out(queue_name);
  out += '/';
  bool hashed = false;
  for (const std::string& name : hash_queue_names)
    hashed = hashed || same_name(name, queue_name);
  if (!hashed) return out;
  const std::string source = queue_hash_source(queue_id);
  for (int level = 0; level < depth; ++level) {
    const auto i = static_cast<std::size_t>(level);
    out += i < source.size() ? source[i] : '_';
    out += '/';
  }
  return out;
}

}  // namespace bulkq
