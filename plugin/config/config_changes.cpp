#include "config/config_changes.h"

namespace bulkq {

std::vector<std::string_view> changed_settings(const Config& before, const Config& after) {
  std::vector<std::string_view> changed;
  const auto note = [&changed](bool differs, std::string_view key) {
    if (differs) changed.push_back(key);
  };
  note(before.log.target != after.log.target, "log.target");
  note(before.log.file != after.log.file, "log.file");
  note(before.log.level != after.log.level, "log.level");
  note(before.scheduler.policy != after.scheduler.policy, "scheduler.policy");
  note(before.scheduler.batch_max_recipients != after.scheduler.batch_max_recipients,
       "scheduler.batch_max_recipients");
  note(before.handoff_capacity != after.handoff_capacity, "scheduler.handoff_capacity");
  note(before.admin.socket != after.admin.socket, "admin.socket");
  return changed;
}

}  // namespace bulkq
