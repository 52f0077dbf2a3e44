// What -p, -t and -C name, checked against /proc and the online CPUs: shared by stat and record.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::process {

// "1234,5678" → ids; `what` ("pid", "tid") names them in the error.
Result<std::vector<int>> parse_id_list(const std::string& text, const char* what);

// The processes of -p: each one's pidfd (so a command can end when they have all exited) and
// every thread it has now. The pidfd is taken before the threads are listed, so an exit in between
// is still seen.
struct ProcessTargets {
  std::vector<pid_t> threads;
  std::vector<pid_t> thread_pids;  // the process of each thread
  std::vector<UniqueFd> pidfds;
  std::vector<pid_t> pids;
};
Result<ProcessTargets> process_targets(const std::string& pids);

// --pid of report and flamegraph: "1234,5678" selecting samples of a saved profile. Unlike -p,
// nothing is checked against /proc, and 0 (the idle task) is a valid choice.
Result<std::vector<std::int64_t>> parse_pid_filter(const std::string& text);

// -C LIST checked against the online CPUs; empty: every online CPU.
Result<CpuSet> choose_cpus(const std::string& list);

}  // namespace perfscope::process
