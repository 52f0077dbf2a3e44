// EventSpec: one perf event, parsed from any of the names people use for it.
//
// Accepted forms (case-insensitive for symbolic names):
//   perf names           cycles, task-clock, page-faults, cs, ...
//   Alumet names         CPU_CYCLES, PAGE_FAULTS, LL_READ_MISS (seed 002)
//   perf cache names     L1-dcache-load-misses, LLC-loads, dTLB-load-misses, ...
//   raw                  r1a8, r0x412e
//   PMU terms            msr/tsc/, cpu/event=0x3c,umask=0x1/ (terms from the PMU's sysfs format/)
//   tracepoints          sched:sched_switch
// each optionally followed by modifiers ":u" ":k" ":h" (any combination; "cpu/.../u" too).
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::events {

enum class EventKind { hardware, software, cache, raw, pmu, tracepoint };
const char* kind_name(EventKind kind);  // "hardware", "software", ...

struct EventSpec {
  std::string name;       // canonical name without modifiers: "cycles", "sched:sched_switch"
  std::string modifiers;  // as written after the name, normalised: "", "u", "uk"
  EventKind kind = EventKind::software;
  std::uint32_t type = PERF_TYPE_SOFTWARE;
  std::uint64_t config = 0;
  std::uint64_t config1 = 0;
  std::uint64_t config2 = 0;
  bool exclude_user = false;
  bool exclude_kernel = false;
  bool exclude_hv = false;

  // "cycles:u": how the event is shown in output.
  std::string display_name() const;
  // A counting attr: type, config*, exclusions and size set; everything else zero.
  perf_event_attr attr() const;
  bool operator==(const EventSpec&) const = default;
};

// Where parsing looks things up; tests point it at synthetic sysfs/tracefs trees.
struct ParseContext {
  std::string event_sources = "/sys/bus/event_source/devices";
  std::string tracefs;  // mounted tracefs root; empty when not mounted
  // The machine's context: sysfs as is, tracefs from system::Capabilities.
  static ParseContext current();
};

Result<EventSpec> parse_event(std::string_view text,
                              const ParseContext& ctx = ParseContext::current());

// A software event by its PERF_COUNT_SW_* config, without a lookup: software_event("cpu-clock",
// PERF_COUNT_SW_CPU_CLOCK) is what sampling falls back to; "dummy" carries side-band records.
EventSpec software_event(std::string name, std::uint64_t config);
// cpu-clock and task-clock: each sample's period is nanoseconds of CPU time.
bool is_time_based(const EventSpec& spec);

// One entry of an event list: a single event, or a {braced} group scheduled together.
struct EventGroupSpec {
  std::vector<EventSpec> events;
  bool grouped = false;
};

// "a,b,{c,d},sched:*": commas inside pmu/.../ and {...} do not split; tracepoint globs expand.
Result<std::vector<EventGroupSpec>> parse_event_list(
    std::string_view text, const ParseContext& ctx = ParseContext::current());

// Splits an event list at top-level commas (not inside /.../ or {...}). Exposed for tests.
Result<std::vector<std::string>> split_event_list(std::string_view text);

}  // namespace perfscope::events
