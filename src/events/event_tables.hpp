// The symbolic event names perfscope knows, with their attr type/config. Facts from
// include/uapi/linux/perf_event.h; spellings from perf (tools/perf) and the Alumet plugin (seed
// 002).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_spec.hpp"

namespace perfscope::events {

struct NamedEvent {
  std::string name;                  // canonical perf spelling
  std::vector<std::string> aliases;  // other perf spellings and the Alumet name
  EventKind kind;
  std::uint32_t type;
  std::uint64_t config;
  std::string description;
};

// hardware, software and cache events, in the order `list` shows them.
const std::vector<NamedEvent>& named_events();
// Case-insensitive lookup by name or alias; nullptr when unknown.
const NamedEvent* find_named_event(std::string_view name);
// The Alumet metric stem for a named event: "hardware_CPU_CYCLES", "cache_LL_READ_MISS".
std::string alumet_metric_stem(const NamedEvent& event);

}  // namespace perfscope::events
