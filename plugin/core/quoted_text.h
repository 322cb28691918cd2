// Untrusted text as it appears inside an error message or a log line.
//
// Quoted, backslash and quote escaped, bytes that could break a line or a terminal written as
// \xNN, and long text cut with "...", so a message stays one readable, safe line whatever bytes
// a peer or a file sent. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bulkq {

enum class NonAscii : bool {
  keep,    // UTF-8 already validated by the caller may be shown as it is
  escape,  // anything outside printable ASCII becomes \xNN
};

[[nodiscard]] std::string quoted_text(std::string_view text, std::size_t max_shown,
                                      NonAscii non_ascii);

// `text` as it is when it is short, printable ASCII without spaces, quotes or backslashes (a
// queue id, an ordinary address: log lines keep Postfix's plain shape); quoted_text otherwise.
[[nodiscard]] std::string plain_or_quoted(std::string_view text, std::size_t max_shown);

}  // namespace bulkq
