// What a monitor run does, as its flags and its config file decide together: flags override the
// file, the file overrides the defaults. Every setting is checked here, before anything opens.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "events/event_spec.hpp"
#include "monitor/output_spec.hpp"

namespace perfscope::monitor {

// The flags as given, unparsed; empty (or false) when not given.
struct SettingFlags {
  std::string config;                // --config FILE (TOML)
  std::vector<std::string> events;   // -e, each possibly a comma list
  std::string poll_interval;         // --poll-interval D
  std::string flush_interval;        // --flush-interval D
  std::string duration;              // --duration D
  std::vector<std::string> outputs;  // --output SPEC
  bool strict = false;               // --strict
};

struct Settings {
  std::vector<events::EventGroupSpec> groups;
  // `groups` are counting::kDefaultEvents: what this machine lacks is named once and left out.
  bool default_events = false;
  std::chrono::nanoseconds poll = std::chrono::seconds(1);
  std::chrono::nanoseconds flush = std::chrono::seconds(5);
  std::optional<std::chrono::nanoseconds> duration;
  std::vector<OutputSpec> outputs;  // never empty: jsonl:- by default
  bool strict = false;              // an event that cannot be counted here is an error
};

// Reads the config file, if any, and applies the flags over it. Refuses an event listed twice
// and two outputs writing the same file.
Result<Settings> resolve_settings(const SettingFlags& flags);

}  // namespace perfscope::monitor
