// ConfigurationReload: what a reload applies, what waits for a restart, and that a bad file or a
// refusing engine changes nothing.
#include "milter/configuration_reload.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config_changes.h"
#include "config/config_parser.h"
#include "support/temp_dir.h"

using namespace bulkq;
using bulkq::testing::TempDir;

namespace {

struct Probe {
  std::vector<Config> applied;
  std::vector<LogLevel> levels;
  std::vector<std::string> logs;
  std::optional<std::string> engine_answer = std::string();  // empty: accepted

  ConfigurationReloadHooks hooks() {
    ConfigurationReloadHooks h;
    h.apply_delivery = [this](const Config& next) {
      applied.push_back(next);
      return engine_answer;
    };
    h.apply_log_level = [this](LogLevel level) { levels.push_back(level); };
    h.log = [this](LogLevel, std::string_view text) { logs.emplace_back(text); };
    return h;
  }
};

}  // namespace

TEST_CASE("reload: live settings apply, the rest wait for a restart", "[config][reload]") {
  const TempDir dir;
  const std::string path = dir.write("bulkq.toml", "[delivery]\nmax_connections = 32\n");
  Config running = parse_config("[delivery]\nmax_connections = 32\n", path).config;
  Probe probe;
  ConfigurationReload reload(path, running, probe.hooks());

  CHECK(reload.reload() == R"({"ok":true,"message":"reloaded )" + path + R"(: nothing to apply"})");
  CHECK(probe.applied.empty());

  dir.write("bulkq.toml",
            "[log]\nlevel = \"debug\"\n[delivery]\nmax_connections = 64\nport = 2525\n"
            "[shaping]\nmax_rate = 50\n[shaping.domain.\"slow.test\"]\nmax_rate = 2\n");
  const std::string reply = reload.reload();
  CHECK(reply == R"({"ok":true,"message":"reloaded )" + path +
                     R"(: applied log.level, delivery.max_connections, shaping; waiting for a )"
                     R"(restart: delivery.port"})");
  REQUIRE(probe.applied.size() == 1);
  CHECK(probe.applied[0].shaping.max_rate == 50);
  CHECK(probe.levels == std::vector<LogLevel>{LogLevel::debug});
  // The running configuration takes what was applied, not what waits.
  CHECK(running.log.level == LogLevel::debug);
  CHECK(running.delivery.max_connections == 64);
  CHECK(running.shaping.domains.size() == 1);
  CHECK(running.delivery.port == 25);

  // Reloading the same file again: the restart-only change is still named, nothing re-applied.
  CHECK(reload.reload() == R"({"ok":true,"message":"reloaded )" + path +
                               R"(: nothing to apply; waiting for a restart: delivery.port"})");
  CHECK(probe.applied.size() == 1);
}

TEST_CASE("reload: a bad file or a refusing engine changes nothing", "[config][reload]") {
  const TempDir dir;
  const std::string path = dir.write("bulkq.toml", "");
  Config running;
  Probe probe;
  ConfigurationReload reload(path, running, probe.hooks());

  dir.write("bulkq.toml", "[shaping]\nmax_rate = -1\n");
  const std::string bad = reload.reload();
  CHECK(bad.rfind(R"({"ok":false,"error":"reload: )", 0) == 0);
  CHECK(bad.find("shaping.max_rate: -1 is out of range") != std::string::npos);
  CHECK(probe.applied.empty());
  CHECK(changed_settings(running, Config{}).empty());

  dir.write("bulkq.toml", "[log]\nlevel = \"debug\"\n[shaping]\nmax_rate = 5\n");
  probe.engine_answer = std::string("delivery is stopping");
  CHECK(reload.reload() ==
        R"x({"ok":false,"error":"reload: delivery is stopping (nothing changed)"})x");
  probe.engine_answer = std::nullopt;
  CHECK(reload.reload().find("did not answer in time; nothing changed") != std::string::npos);
  CHECK(running.shaping.max_rate == 0);
  CHECK(running.log.level == LogLevel::info);
  CHECK(probe.levels.empty());

  probe.engine_answer = std::string();
  CHECK(reload.reload().rfind(R"({"ok":true,)", 0) == 0);
  CHECK(running.shaping.max_rate == 5);

  dir.write("bulkq.toml", "");
  ::unlink(path.c_str());
  CHECK(reload.reload().find("cannot open") != std::string::npos);
}
