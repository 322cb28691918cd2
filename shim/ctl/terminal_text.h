// terminal_safe: text from an untrusted reply made safe to print on a terminal — printable ASCII
// and well-formed UTF-8 kept (except the C1 controls, which some terminals obey); every other
// byte as \xNN. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace bulkq {

[[nodiscard]] std::string terminal_safe(std::string_view text);

}  // namespace bulkq
