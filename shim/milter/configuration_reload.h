// ConfigurationReload: what SIGHUP and `bulkqctl reload` do — read bulkq.toml again, apply what
// can change while bulkqd runs (applies_on_reload: the log level, the delivery limits, TLS
// policies, retry schedule and timeouts, [shaping]) and name the changes that wait for a restart.
// A file with an error changes nothing. No queued recipient is touched: the delivery engine takes
// the new limits for its next batches.
//
// Any thread; one reload at a time (a mutex), since the signal thread and the admin server's
// thread may ask together. `running` is bulkqd's configuration: its live settings are updated
// once applied, so the next reload compares against what is in force.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace bulkq {

struct ConfigurationReloadHooks {
  // Applies the delivery settings and [shaping] of the new configuration (the scheduler loop's
  // reconfigure): empty when done, the error otherwise, none when it did not answer.
  std::function<std::optional<std::string>(const Config&)> apply_delivery;
  std::function<void(LogLevel)> apply_log_level;
  std::function<void(LogLevel, std::string_view)> log;
};

class ConfigurationReload {
 public:
  ConfigurationReload(std::string path, Config& running, ConfigurationReloadHooks hooks)
      : path_(std::move(path)), running_(running), hooks_(std::move(hooks)) {}

  // The admin reply line: {"ok":true,"message":"…"} naming what was applied and what waits for a
  // restart, or {"ok":false,"error":"…"} (the file's errors, or the engine did not take it).
  // Everything is logged as well.
  std::string reload();

 private:
  std::string path_;
  Config& running_;
  ConfigurationReloadHooks hooks_;
  std::mutex mutex_;
};

}  // namespace bulkq
