// Which settings differ between two configurations, named by their keys in bulkq.toml.
//
// A reload (SIGHUP or `bulkqctl reload`) uses it to apply what can change while bulkqd runs and
// to tell the admin which changes wait for a restart. Pure. A key added to Config must be added
// here as well (the unit test changes every key and expects each to be named).
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulkq {

// Full keys ("scheduler.policy") whose values differ, in the order bulkq.toml lists them.
[[nodiscard]] std::vector<std::string_view> changed_settings(const Config& before,
                                                             const Config& after);

// Whether a reload applies the setting `key` (as changed_settings() names it) at once: the log
// level, the delivery limits, TLS policies, retry schedule and timeouts, and [shaping]. The rest
// (sockets, directories, users, bulk rules, DNS, quota, delivery mode, relay...) waits for a
// restart.
[[nodiscard]] bool applies_on_reload(std::string_view key);

}  // namespace bulkq
