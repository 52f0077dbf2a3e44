// Metric names for events, as the Alumet perf plugin spells them (seed 002):
// perf_hardware_CPU_CYCLES, perf_software_PAGE_FAULTS, perf_cache_LL_READ_MISS. Events the plugin
// does not know get a name built the same way: perf_raw_0x412e, perf_pmu_msr_tsc,
// perf_tracepoint_sched_sched_switch, perf_software_TASK_CLOCK. Every name is a valid Prometheus
// metric name ([a-zA-Z_][a-zA-Z0-9_]*). Modifiers (":u") are not part of the name: the event
// attribute carries them. These names are what CSV and JSON lines carry, whatever the event counts.
//
// Prometheus families follow Prometheus' naming conventions on top: every counter ends in
// `_total`, and an event counted in nanoseconds (cpu-clock, task-clock) is exported in the base
// unit, seconds, as METRIC_seconds_total: perf_software_TASK_CLOCK_seconds_total.
#pragma once

#include <string>

#include "events/event_spec.hpp"
#include "monitor/series.hpp"

namespace perfscope::monitor {

std::string metric_name(const events::EventSpec& spec);
// The counter family a series is exported in: "perf_software_PAGE_FAULTS_total",
// "perf_software_TASK_CLOCK_seconds_total".
std::string prometheus_name(const Series& series);

}  // namespace perfscope::monitor
