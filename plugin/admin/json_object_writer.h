// Appending members to a JSON object being written by hand, for the admin replies (status,
// queues, domain, messages…): `"name":value,` each, then json_close() turns the last ',' into
// the closing bracket. Member names are literals that need no escaping; string values go
// through append_json_string. Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "admin/json_string.h"

namespace bulkq {

// Appends `"name":`.
inline void json_name(std::string& out, std::string_view name) {
  out += '"';
  out += name;
  out += "\":";
}

inline void json_member(std::string& out, std::string_view name, std::uint64_t value) {
  json_name(out, name);
  out += std::to_string(value);
  out += ',';
}

inline void json_member(std::string& out, std::string_view name, std::int64_t value) {
  json_name(out, name);
  out += std::to_string(value);
  out += ',';
}

inline void json_member(std::string& out, std::string_view name, bool value) {
  json_name(out, name);
  out += value ? "true" : "false";
  out += ',';
}

inline void json_member(std::string& out, std::string_view name, std::string_view value) {
  json_name(out, name);
  append_json_string(out, value);
  out += ',';
}

// A number with up to six significant digits ("12.5", "0.1"); none is null.
void json_member(std::string& out, std::string_view name, std::optional<double> value);

// Replaces the ',' after the last member or element with `bracket` ('}' or ']'), or appends
// it to an empty object or array.
inline void json_close(std::string& out, char bracket) {
  if (out.back() == ',') {
    out.back() = bracket;
  } else {
    out += bracket;
  }
}

}  // namespace bulkq
