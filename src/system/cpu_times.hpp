// Per-CPU time accounting from /proc/stat: how long each CPU was busy, idle, or taken by the
// hypervisor ("steal") between two readings. `record` uses it to explain sample rates.
#pragma once

#include <map>
#include <string_view>

namespace perfscope::system {

struct CpuTimes {
  double busy_s = 0;   // user, nice, system, irq, softirq
  double idle_s = 0;   // idle and iowait
  double steal_s = 0;  // time the hypervisor ran something else on this virtual CPU
  double total() const { return busy_s + idle_s + steal_s; }
};

// The "cpuN" lines of a /proc/stat text, by CPU number (the aggregate "cpu" line is left out).
std::map<int, CpuTimes> parse_cpu_times(std::string_view proc_stat);
// The same, read from /proc/stat now; empty when it cannot be read.
std::map<int, CpuTimes> read_cpu_times();
// later - earlier, per CPU present in both.
std::map<int, CpuTimes> cpu_times_between(const std::map<int, CpuTimes>& earlier,
                                          const std::map<int, CpuTimes>& later);

}  // namespace perfscope::system
