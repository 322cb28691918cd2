// Which settings differ between two configurations, named by their keys in bulkq.toml.
//
// bulkqd's main thread uses it on SIGHUP to tell the admin what a reload applied and which
// changes wait for a restart. Pure. A key added to Config must be added here as well (the unit
// test changes every key and expects each to be named).
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulkq {

// Full keys ("scheduler.policy") whose values differ, in the order bulkq.toml lists them.
[[nodiscard]] std::vector<std::string_view> changed_settings(const Config& before,
                                                             const Config& after);

}  // namespace bulkq
