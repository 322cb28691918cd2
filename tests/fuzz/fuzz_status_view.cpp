// Fuzzes `bulkqctl status`'s table renderer, the other commands' views (ctl/command_view.h) and
// the JSON reader under them: no input may crash them or recurse without bound; the result is a
// table or an error, never both or neither; and whatever the reply held, what reaches the terminal
// has no control character but the table's own newlines.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "admin/admin_command.h"
#include "ctl/command_view.h"
#include "ctl/json_document.h"
#include "ctl/status_view.h"

namespace {

void require_terminal_safe(std::string_view text, bool newlines_allowed) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n' && newlines_allowed) continue;
    if (u < 0x20 || u == 0x7f) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const bulkq::JsonDocument document = bulkq::parse_json_document(input);
  if (!document.ok() && document.root.kind != bulkq::JsonValue::Kind::null) std::abort();

  // A table ending in a newline, or an error and no table.
  const bulkq::StatusView view = bulkq::render_status_view(input);
  if (view.ok() && (view.text.empty() || view.text.back() != '\n')) std::abort();
  if (!view.ok() && !view.text.empty()) std::abort();
  require_terminal_safe(view.text, true);
  require_terminal_safe(view.error, false);
  // A table is only made from a reply the JSON reader accepts.
  if (view.ok() && !document.ok()) std::abort();

  // One command's view per input, picked by its first byte (parsing the reply once per command
  // would make every run ten times as slow for no more coverage).
  const bulkq::AdminCommand command =
      bulkq::kAdminCommands[size == 0 ? 0 : data[0] % bulkq::kAdminCommands.size()];
  if (command != bulkq::AdminCommand::status) {
    const bulkq::StatusView shown = bulkq::render_command_view(command, input);
    if (shown.ok() && (shown.text.empty() || shown.text.back() != '\n')) {
      // The metrics text is printed as it came: it may be empty or lack the final newline.
      if (command != bulkq::AdminCommand::metrics) std::abort();
    }
    if (!shown.ok() && !shown.text.empty()) std::abort();
    require_terminal_safe(shown.text, true);
    require_terminal_safe(shown.error, false);
    if (shown.ok() && !document.ok()) std::abort();
  }
  return 0;
}
