// Tracker: one heap-tracking run of a command, as a library (`perfscope mem` and scenario's memory
// phase are its clients). It owns the preload session: it finds libperfscope-heap.so, decides how
// the preload captures stacks, makes the socket the preload writes to, starts the command held
// (process::Workload) with LD_PRELOAD, the socket's descriptor number and the unwind mode set in
// the command's environment only, reads the event stream into HeapAnalysis until every traced
// process is gone, and returns the process images with their symbolized profile.
//
// The caller's process is left as it was: its environment, signal dispositions and descriptors.
// A stop request (a descriptor that becomes readable, such as a signalfd) is passed on to the
// command as the same signal; the stream is still read to its end and the result comes back.
// The library never prints: what a person should read comes back in TrackResult::notes.
//
// Threads: a Tracker is used from one thread. Another thread of the caller that forks while open()
// runs hands its child the socket's write end (the command's copy is not close-on-exec); after
// open() only the command holds it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "heap/analysis.hpp"
#include "heap/heap_profile.hpp"
#include "process/stop_source.hpp"
#include "profile/profile.hpp"

namespace perfscope::heap {

// How the preload captures an allocation's stack.
enum class Unwind {
  automatic,       // frame pointers when the program keeps them (system::judge_frame_pointers)
  frame_pointers,  // walk %rbp: fast, loses frames in code built without frame pointers
  dwarf,           // libgcc's _Unwind_Backtrace over .eh_frame: right everywhere, slower
};
// "auto", "fp" or "dwarf" (the --unwind flag).
Result<Unwind> parse_unwind(const std::string& text);

struct TrackOptions {
  std::vector<std::string> command;  // program (a path, or a name looked up on PATH) and arguments
  // Instead of a command: a running process to attach to (mem -p). The tracker is loaded into it
  // through ptrace (heap/inject.hpp) and tracks from then on; the run ends when the process
  // exits, on a stop request or after `duration_s` (> 0), detaching and leaving it running.
  pid_t attach_pid = 0;
  double duration_s = 0;
  // Called once the tracker runs inside the attached process (for a "attached" line).
  std::function<void(pid_t)> on_attached = {};
  Unwind unwind = Unwind::automatic;
  // libperfscope-heap.so. Empty: $PERFSCOPE_HEAP_LIB, else beside the running executable (a build
  // tree), else ../lib/perfscope/ beside it (an installed tree).
  std::string preload_library;
};

using process::StopSource;

struct TrackResult {
  // In order of first appearance; the command's first image comes first when it allocated.
  std::vector<ProcessImage> images;
  // build_heap_profile's profile of `images` (symbolized), with the stacks line as a comment, and
  // its sample index per image and site (for heap_text_report).
  profile::Profile profile;
  std::vector<std::vector<std::int64_t>> sample_of_site;
  HeapProfileInfo info;  // command line, start time, wall time
  // How stacks were captured and why: "auto: app keeps frame pointers (...)", "DWARF (asked)".
  std::string stacks;
  int command_status = 0;  // shell convention: the exit code, or 128 + N for signal N
  int stop_signal = 0;     // the stop request's signal, passed on to the command; 0 when none
  std::vector<std::string> notes;  // for a person: a command killed after the grace period, ...
};

class Tracker {
 public:
  struct Session;  // the held command or the attached process, the stream's read end, the options

  Tracker(Tracker&&) noexcept;
  Tracker& operator=(Tracker&&) noexcept;
  ~Tracker();  // kills a command that was prepared but never run

  // Checks the request, finds the preload, chooses the unwind mode, makes the socket and prepares
  // the command held before exec. Nothing runs until run().
  static Result<Tracker> open(TrackOptions options);

  // How stacks will be captured and why (as TrackResult::stacks).
  const std::string& stacks() const;
  // The command's process id (held before exec until run()).
  pid_t pid() const;

  // Attached (TrackOptions::attach_pid): loads the tracker into the process, reads its events
  // until it exits, a stop request comes (not passed on: perfscope detaches) or the duration
  // ends, and returns what was allocated since. Otherwise:
  // Starts the command and reads its events until every traced process has closed the socket, or
  // the command has exited and the processes it left behind were quiet for a second (they are
  // cut short). A stop request is passed on to the command; a command still running
  // process::Workload::kEndGraceSeconds later is killed (SIGKILL); a second request kills it at
  // once. Errors: the command could not be run, the stream is not the preload's, or no traced
  // process made an allocation (a static or setuid program, LD_PRELOAD cleared). Call once.
  Result<TrackResult> run(const StopSource& stop = {});

 private:
  Tracker() = default;
  static Result<Tracker> open_attached(std::unique_ptr<Session> session);
  Result<TrackResult> run_attached(const StopSource& stop);
  std::unique_ptr<Session> session_;
};

}  // namespace perfscope::heap
