// JSON string literals for the admin socket's replies.
//
// Pure, any thread. append_json_string() writes `text` as one JSON string, quotes included, that
// every RFC 8259 reader accepts whatever bytes `text` holds: '"' and '\\' escaped, every control
// character (U+0000–U+001F, U+007F) escaped so a reply stays one line, valid UTF-8 passed through
// as it is, and each ill-formed UTF-8 sequence (stray continuation bytes, overlong forms,
// surrogates, code points above U+10FFFF, truncated sequences) replaced by one \ufffd per maximal
// ill-formed subpart, as Unicode recommends.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

void append_json_string(std::string& out, std::string_view text);

}  // namespace bulkq
