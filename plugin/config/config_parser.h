// Reading bulkq.toml into a Config, strictly.
//
// Called on the thread that (re)loads the configuration: bulkqd's main thread at start-up and on
// SIGHUP, bulkqctl and `bulkqd -t`. Every key is optional and falls back to its default, but
// anything the file says must be understood: an unknown table or key, a value of the wrong type
// or out of range is an error, because a misspelt key silently ignored is a setting the admin
// believes is in force and is not. Every error names the file, the line and the full key:
//
//   bulkq.toml:7: scheduler.policy: unknown policy "biggest" (expected fair, largest or oldest)
//
// When a file has several errors they are all reported, one per line, in file order. Nothing
// here throws: TOML syntax errors and any failure inside the TOML library come back as errors.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "config/config.h"

namespace bulkq {

struct ConfigResult {
  Config config;      // the parsed configuration when ok(), the defaults otherwise
  std::string error;  // set when !ok(): one line per problem, each "FILE:LINE: KEY: what"
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// A configuration file is a few hundred bytes; the bound keeps a wrong path (a log, a device)
// from being read whole.
inline constexpr std::size_t kMaxConfigFileSize = 1024 * 1024;

// Parses `toml_text`; `source_name` is what error messages call the file. Pure: no I/O.
[[nodiscard]] ConfigResult parse_config(std::string_view toml_text, const std::string& source_name);

// Reads the file at `path` and parses it. A missing or unreadable file is an error naming the
// path and the system's reason ("cannot open /etc/bulkq/bulkq.toml: No such file or directory").
[[nodiscard]] ConfigResult load_config_file(const std::string& path);

}  // namespace bulkq
