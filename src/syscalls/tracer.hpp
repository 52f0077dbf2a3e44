// Tracer: what `perfscope syscalls` drives, whichever backend counts. The eBPF backend
// (bpf/syscall_tracer.hpp) aggregates in the kernel; PerfTracer (perf_tracer.hpp) reads every
// raw_syscalls event through perf ring buffers and aggregates here.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "syscalls/summary.hpp"

namespace perfscope::syscalls {

struct TracerOptions {
  GroupBy by = GroupBy::syscall;
  bool all = false;         // every process (but perfscope itself)
  std::vector<pid_t> pids;  // these processes (all their threads), not their children
  pid_t command = 0;        // a command held before exec: counted from its exec, children followed
  bool cpu_time = true;     // measure on-CPU time too, where the backend can
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual const char* backend() const = 0;
  // Starts counting (a held command's calls count once it exec()s).
  virtual Status start() = 0;
  // Waits up to `timeout_ms` for `fd` (a signalfd, a pidfd; -1 for none) to become readable,
  // moving kernel data along meanwhile. True when `fd` is readable.
  virtual Result<bool> wait(int fd, int timeout_ms) = 0;
  // With a command: whether any process it started (the command and its descendants) is alive.
  virtual bool followed_alive() = 0;
  // Stops counting and reads everything counted, including what the kernel still held.
  virtual Result<Summary> finish() = 0;
  // What a person should know about the count ("eBPF cannot run here (...)", lost errnos).
  const std::vector<std::string>& notes() const { return notes_; }
  void add_note(std::string note) { notes_.push_back(std::move(note)); }

 protected:
  std::vector<std::string> notes_;
};

}  // namespace perfscope::syscalls
