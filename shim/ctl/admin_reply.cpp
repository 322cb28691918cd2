#include "ctl/admin_reply.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "ctl/json_document.h"

namespace bulkq {
namespace {

// Control characters become "\xNN": the text goes to a terminal.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      std::array<char, 5> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\x%02x", u);
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out;
}

AdminReplyStatus failed(std::string error) {
  return {false, std::move(error)};
}

}  // namespace

AdminReplyStatus read_admin_reply_status(std::string_view reply) {
  const JsonDocument document = parse_json_document(reply);
  if (!document.ok()) return failed("malformed reply: " + document.error);
  const JsonValue& root = document.root;
  if (root.kind != JsonValue::Kind::object) {
    return failed("malformed reply: the reply is not a JSON object");
  }
  const JsonValue* ok = root.member("ok");
  if (ok == nullptr) return failed("malformed reply: it has no \"ok\" member");
  if (ok->kind != JsonValue::Kind::boolean) {
    return failed("malformed reply: \"ok\" is not true or false");
  }
  if (ok->boolean) return {true, {}};
  const JsonValue* error = root.member("error");
  if (error != nullptr && error->kind == JsonValue::Kind::string && !error->text.empty()) {
    return failed(printable(error->text));
  }
  return failed("the request failed (the reply gives no reason)");
}

}  // namespace bulkq
