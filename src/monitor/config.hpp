// The `monitor` configuration file (TOML), in either of two forms:
//
// * an Alumet configuration (seed 002): the [plugins.perf] table with poll_interval,
//   flush_interval, hardware_events, software_events and cache_events (and Alumet's `enable`).
//   Everything outside [plugins.perf] belongs to Alumet and its other plugins and is ignored.
// * a perfscope file: top-level `events` (any event list form perfscope accepts), the same three
//   Alumet lists, poll_interval, flush_interval, duration, outputs and strict.
//
// Errors name the file, the line and the key, and say what is valid; nothing is half-applied.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "events/event_spec.hpp"
#include "monitor/output_spec.hpp"

namespace perfscope::monitor {

struct ConfigEvents {
  std::string text;  // as written: "PAGE_FAULTS", "{cycles,instructions}"
  std::string key;   // where: "plugins.perf.software_events", "events"
  int line = 0;
  std::vector<events::EventGroupSpec> groups;  // parsed
};

struct MonitorConfig {
  std::string path;
  bool alumet = false;  // read from [plugins.perf]
  std::vector<ConfigEvents> events;
  std::optional<std::chrono::nanoseconds> poll_interval;
  std::optional<std::chrono::nanoseconds> flush_interval;
  std::optional<std::chrono::nanoseconds> duration;
  std::vector<OutputSpec> outputs;
  std::optional<bool> strict;
};

Result<MonitorConfig> load_config(
    const std::string& path, const events::ParseContext& ctx = events::ParseContext::current());
// `source` names the text in errors (a path).
Result<MonitorConfig> parse_config(
    std::string_view text, const std::string& source,
    const events::ParseContext& ctx = events::ParseContext::current());

}  // namespace perfscope::monitor
