// Probes: real attempts at each kind of access perfscope needs, for this process as it is now
// (user, capabilities, seccomp, sysctls). doctor turns them into verdicts; nothing here guesses
// from the paranoid level alone.
#pragma once

#include <string>
#include <vector>

#include "system/capabilities.hpp"

namespace perfscope::system {

struct ProbeResult {
  bool tried = false;  // false: could not be attempted (detail says why)
  int errnum = 0;      // 0 when it worked
  std::string detail;  // what was tried, or why it was not
  bool ok() const { return tried && errnum == 0; }
};

struct ProbeResults {
  ProbeResult count_own_user;       // task-clock:u, this process
  ProbeResult count_own_kernel;     // task-clock, this process, kernel included
  ProbeResult sample_own_user;      // cpu-clock sampling, user callchains, this process
  ProbeResult sample_own_kernel;    // cpu-clock sampling with kernel callchains, this process
  ProbeResult count_other_user;     // task-clock on a process of another user
  ProbeResult count_system_wide;    // cpu-clock, all processes, CPU 0
  ProbeResult sample_system_wide;   // cpu-clock sampling with callchains, all processes, CPU 0
  ProbeResult tracepoint;           // sched:sched_switch (or another) counting, this process
  ProbeResult uprobe;               // a uprobe on this binary's entry point
  ProbeResult bpf_perf_program;     // BPF_PROG_LOAD of a BPF_PROG_TYPE_PERF_EVENT program
  ProbeResult bpf_stack_map;        // BPF_MAP_CREATE of a BPF_MAP_TYPE_STACK_TRACE map
  ProbeResult hardware_counter;     // cycles:u, this process
  bool kallsyms_addresses = false;  // /proc/kallsyms shows non-zero addresses to this process
  int seccomp_mode = 0;             // /proc/self/status Seccomp: 0 off, 1 strict, 2 filter
  std::vector<std::string> container_markers;  // /.dockerenv, /run/.containerenv, cgroup names
  long open_files_limit = -1;                  // RLIMIT_NOFILE soft limit
};

ProbeResults run_probes(const Capabilities& caps);

}  // namespace perfscope::system
