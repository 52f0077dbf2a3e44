// StopSource: how a long-running library call (a recording, a heap run, a syscall count) learns
// that it should stop: a descriptor its wait watches, and how to read the signal number once it
// is readable. SignalWatch::stop_source() makes one; tests use an eventfd.
#pragma once

#include <functional>

namespace perfscope::process {

struct StopSource {
  int fd = -1;
  // The signal to stop for, 0 when nothing needs acting on (a SIGCHLD that only woke the wait).
  std::function<int()> take;
};

}  // namespace perfscope::process
