// Fuzzes the configuration parser (toml11 underneath): no input may crash it or let an exception
// escape, every error names the file, and an accepted configuration holds only values in range.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bulkq::ConfigResult result = bulkq::parse_config(input, "fuzz.toml");
  if (!result.ok()) {
    if (result.error.rfind("fuzz.toml", 0) != 0) std::abort();
    return 0;
  }
  const bulkq::Config& config = result.config;
  if (config.scheduler.batch_max_recipients < 1 || config.scheduler.batch_max_recipients > 100000)
    std::abort();
  if (config.handoff_capacity < 1 || config.handoff_capacity > 65534) std::abort();
  if (config.admin.socket.empty() || config.admin.socket.front() != '/' ||
      config.admin.socket.size() > bulkq::kMaxUnixSocketPathLength)
    std::abort();
  if (config.log.file.empty() || config.log.file.front() != '/') std::abort();
  return 0;
}
