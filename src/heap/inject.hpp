// Calling functions inside a running process through ptrace, so that `perfscope mem -p` can load
// its tracker into it (dlopen) and later tell it to let go. x86-64 only.
//
// A RemoteThread stops one thread of the process (PTRACE_SEIZE + PTRACE_INTERRUPT) at a point
// where calling the allocator and the dynamic loader is safe: inside a system call other than the
// allocator's own (brk, mmap, ...), or in code outside libc and the dynamic loader. A call saves
// every register (general and the extended state), points the thread at the function with its
// arguments in registers and a return address of 0, lets it run until it faults there, reads the
// result and puts everything back, so that an interrupted system call restarts as if nothing had
// happened. Signals that arrive meanwhile are delivered when the thread is let go.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace perfscope::heap {

// Why this process may not ptrace `pid`, as one error naming the fix (yama's ptrace_scope, a
// tracer already attached, another user, not dumpable, no such process), or ok.
Status check_can_trace(pid_t pid);

// The run-time address of `symbol` (its default version) in the process's C library; an error
// when the process has none (a static program).
Result<std::uint64_t> libc_symbol(pid_t pid, const std::string& symbol);

class RemoteThread {
 public:
  RemoteThread(RemoteThread&&) noexcept;
  RemoteThread& operator=(RemoteThread&&) noexcept;
  ~RemoteThread();  // puts the registers back and detaches

  // Stops the process's main thread at a safe point (tries for about two seconds).
  static Result<RemoteThread> stop(pid_t pid);

  // Copies `text` (NUL added) into the thread's stack, below anything in use; its address.
  Result<std::uint64_t> put_string(const std::string& text);
  // Reads a NUL-terminated string of at most `max` bytes.
  Result<std::string> read_string(std::uint64_t address, std::size_t max = 4096);
  // Calls fn(args...) in the thread and returns its result (rax). Gives up after `timeout_s`.
  Result<std::uint64_t> call(std::uint64_t fn, const std::vector<std::uint64_t>& args,
                             int timeout_s = 30);

 private:
  RemoteThread() = default;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace perfscope::heap
