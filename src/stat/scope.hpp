// What a counting run counts: the CPUs of -a/-C, the processes of -p, the threads of -t, a cgroup,
// or the command perfscope starts, turned into counter targets, each with the attributes (CPU,
// process, cgroup) that `monitor` labels its series with. Shared by `stat` and `monitor`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "counting/open_event.hpp"
#include "process/workload.hpp"

namespace perfscope::stat {

// The targeting flags as given: an optional list is absent when its flag was not given, and an
// empty string when it was given empty (an error, never "everything").
struct ScopeFlags {
  bool all_cpus = false;              // -a
  std::optional<std::string> cpus;    // -C LIST
  std::optional<std::string> pids;    // -p LIST
  std::optional<std::string> tids;    // -t LIST
  std::optional<std::string> cgroup;  // --cgroup PATH
  bool inherit = true;                // count what the targets create (off: -i)
};

// One counter target and the scope it adds into; absent attributes are -1 / empty.
struct ScopedTarget {
  counting::Target target;
  int cpu = -1;
  std::int64_t pid = -1;
  std::string cgroup;
};

struct Scope {
  std::vector<ScopedTarget> targets;
  // -p without a command: the processes, whose exit ends the run (RunWatch).
  std::vector<UniqueFd> pidfds;
  UniqueFd cgroup;  // the directory `targets` refer to by fd
  counting::CounterOptions options;
  bool tolerate_vanished = false;  // a listed thread may exit before its counters open
  // As perf stat names it: "'./busy 20'", "system wide", "CPU(s) 0-3", "process id '42'",
  // "thread id '43'", "cgroup /sys/fs/cgroup/x".
  std::string subject;
};

// Refuses a flag given an empty list, and two scopes at once (-a/-C, -p, -t, --cgroup), naming
// the flags.
Status check_scope(const ScopeFlags& flags);

// The targets `flags` select. With none of -a/-C/-p/-t/--cgroup, the command (`workload`, which
// must then be given) is counted from its exec on, with what it starts unless `inherit` is off.
// With -p and a command, the processes are counted while the command runs.
Result<Scope> choose_scope(const ScopeFlags& flags, const process::Workload* workload);

}  // namespace perfscope::stat
