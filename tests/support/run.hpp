// Runs programs for CLI tests: argv in, exit code and both output streams out.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace perfscope::testing {

struct RunResult {
  int exit_code = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

struct RunOptions {
  bool as_nobody = false;  // drop to uid/gid 65534 with no capabilities (setpriv semantics)
  std::string cwd;         // working directory, empty: inherit
  // Sends `interrupt_signal` after this long (>= 0), and once the program blocks or catches that
  // signal (its SigBlk or SigCgt in /proc/PID/status): a program still starting up on a loaded
  // machine would otherwise die of the signal instead of handling it.
  int interrupt_after_ms = -1;
  int interrupt_signal = 2;  // SIGINT
  // When set, the signal also waits until this returns true for the program's pid (polled every
  // 5 ms): a readiness signal such as child_has_run().
  std::function<bool(int)> interrupt_when = {};
};

// True once a child of `pid` named `comm` has used `cpu_seconds` of CPU (user + system): the
// command perfscope runs is at work, however slowly a loaded machine started it.
bool child_has_run(int pid, const std::string& comm, double cpu_seconds);

RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Path of the perfscope binary under test, and of a test target program ("ps-busy").
std::string perfscope_binary();
// CPU time the hypervisor has taken from this machine's virtual CPUs since boot, summed over CPUs
// ("steal" in /proc/stat). Clocks that run while a task is on a CPU (task-clock, cpu-clock's
// timer) see it; CLOCK_PROCESS_CPUTIME_ID does not.
double stolen_cpu_seconds();
std::string target(const std::string& name);

// A perfscope binary and targets that user `nobody` can execute (copied to a world-readable
// temporary directory, since build trees often are not). Empty when not root.
std::string perfscope_binary_for_nobody();
std::string target_for_nobody(const std::string& name);

}  // namespace perfscope::testing
