#include "admin/release_reply.h"

#include "admin/json_object_writer.h"

namespace bulkq {

std::string release_reply_json(const ReleaseReport& report) {
  std::string out = R"({"ok":true,)";
  json_member(out, "released", report.released);
  json_member(out, "recipients", report.recipients);
  json_member(out, "busy", report.busy);
  json_member(out, "failed", report.failed);
  json_member(out, "remaining", report.remaining);
  json_member(out, "error", std::string_view(report.error));
  json_name(out, "queue_ids");
  out += '[';
  for (const std::string& id : report.queue_ids) {
    append_json_string(out, id);
    out += ',';
  }
  json_close(out, ']');
  out += '}';
  return out;
}

}  // namespace bulkq
