// RunWatch: what ends a counting run, watched in one poll(2) beside the caller's own descriptors
// (a timer, an HTTP endpoint): the command exiting, every -p process exiting, SIGINT, SIGTERM or
// SIGHUP, or a deadline. `stat` and `monitor` both wait through it, so they end alike.
#pragma once

#include <poll.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "process/signal_watch.hpp"
#include "process/workload.hpp"

namespace perfscope::stat {

class RunWatch {
 public:
  enum class End {
    none,              // still running
    command_exited,    // the command perfscope started
    processes_exited,  // every process of -p
    signal,            // SIGINT, SIGTERM or SIGHUP reached perfscope
    deadline,          // the run's duration elapsed
  };
  static constexpr std::uint64_t kNoDeadline = UINT64_MAX;

  // `signals` and `workload` (null: no command) must outlive the watch. `pidfds`: processes whose
  // exit, all of them, ends the run. `deadline_ns`: CLOCK_MONOTONIC (core/clock.hpp).
  RunWatch(process::SignalWatch& signals, process::Workload* workload, std::vector<UniqueFd> pidfds,
           std::uint64_t deadline_ns = kNoDeadline);

  // Sleeps until `wake_ns` (CLOCK_MONOTONIC), the run ends, or one of `extra` is ready (its
  // revents are set). Returns at once when the run is over.
  Status wait(std::uint64_t wake_ns, std::span<pollfd> extra = {});
  bool over() const { return end_ != End::none; }
  End end() const { return end_; }
  int signal() const { return signal_; }  // the signal that ended the run, with End::signal

  // Ends the command if it still runs, with one policy for every command: the signal that ended
  // the run is passed on (not again when it came from the terminal, which sent it to the command
  // already), SIGTERM when the deadline (or an error: call it on any way out) ended it, and
  // SIGKILL if the command is still running Workload::kEndGraceSeconds later. Reaps it. Returns
  // false when the command had to be killed.
  bool finish();
  // The signal finish() ended the command with (0: it had exited by itself, or there is none).
  int ended_with() const { return ended_with_; }

 private:
  void on_signals();
  process::SignalWatch& signals_;
  process::Workload* workload_;
  std::vector<UniqueFd> pidfds_;
  std::size_t live_pids_;
  std::uint64_t deadline_ns_;
  std::vector<pollfd> fds_;  // scratch for wait()
  End end_ = End::none;
  int signal_ = 0;
  bool from_terminal_ = false;
  int ended_with_ = 0;
};

}  // namespace perfscope::stat
