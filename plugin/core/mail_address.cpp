#include "core/mail_address.h"

#include "core/domain_name.h"

namespace bulkq {
namespace {

SplitAddress failure(std::string message) {
  return {{}, {}, std::move(message)};
}

}  // namespace

SplitAddress split_address(std::string_view address) {
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  if (address.empty()) return failure("empty address");
  if (address.size() > kMaxAddressLength) return failure("address longer than 256 characters");

  // Find the '@' that separates the domain: the last one that is not inside quotes.
  std::size_t at = std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 0; i < address.size(); ++i) {
    const char c = address[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return failure("control character in address");
    if (quoted && c == '\\' && i + 1 < address.size()) {
      ++i;  // quoted-pair: the next character is literal
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '@' && !quoted) {
      at = i;
    }
  }
  if (quoted) return failure("unterminated quoted local part");
  if (at == std::string_view::npos) return failure("address has no domain");
  if (at == 0) return failure("address has an empty local part");
  if (at > kMaxLocalPartLength) return failure("local part longer than 64 characters");

  DomainNameResult domain = normalise_domain(address.substr(at + 1));
  if (!domain.ok()) return failure(std::move(domain.error));
  return {std::string(address.substr(0, at)), std::move(domain.canonical), {}};
}

}  // namespace bulkq
