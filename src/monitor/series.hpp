// What `monitor` measures: a Series is one event counted for one scope (a CPU, a process, a
// cgroup); a Point is one poll of one series.
#pragma once

#include <cstdint>
#include <string>

namespace perfscope::monitor {

struct Series {
  std::string metric;  // "perf_software_PAGE_FAULTS" (see metric_name.hpp)
  std::string event;   // the event as opened: "page-faults", "instructions:u"
  std::string base;    // the event without modifiers: "page-faults", "instructions"
  // Scope attributes; absent ones are -1 / empty.
  int cpu = -1;
  std::int64_t pid = -1;
  std::string cgroup;
  // The count is nanoseconds of CPU time (cpu-clock, task-clock): CSV and JSON lines keep the
  // nanoseconds, Prometheus gets seconds (see prometheus_name()).
  bool nanoseconds = false;
};

struct Point {
  std::int64_t time_ns = 0;  // wall clock (CLOCK_REALTIME) when the counters were read
  std::uint32_t series = 0;  // index into the source's series
  std::uint64_t delta = 0;   // the scaled count over the poll interval
  std::uint64_t total = 0;   // the sum of every delta so far
  // time_running / time_enabled over the interval: the share of it the counter was on the PMU.
  // 1 when it counted all the time; the delta was scaled by its inverse. 0 when it never ran (the
  // delta is then unknown and reported as 0).
  double accuracy = 1;
};

}  // namespace perfscope::monitor
