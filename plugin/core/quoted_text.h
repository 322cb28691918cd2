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

}  // namespace bulkq
