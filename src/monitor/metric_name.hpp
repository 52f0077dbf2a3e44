// Metric names for events, as the Alumet perf plugin spells them (seed 002):
// perf_hardware_CPU_CYCLES, perf_software_PAGE_FAULTS, perf_cache_LL_READ_MISS. Events the plugin
// does not know get a name built the same way: perf_raw_0x412e, perf_pmu_msr_tsc,
// perf_tracepoint_sched_sched_switch, perf_software_TASK_CLOCK. Every name is a valid Prometheus
// metric name ([a-zA-Z_][a-zA-Z0-9_]*). Modifiers (":u") are not part of the name: the event
// attribute carries them.
#pragma once

#include <string>

#include "events/event_spec.hpp"

namespace perfscope::monitor {

std::string metric_name(const events::EventSpec& spec);

}  // namespace perfscope::monitor
