// HeapAnalysis: interprets the event stream of perfscope's heap preload (preload/heap_wire.hpp) as
// it arrives, one state per process image: the live heap, its peak and what held it, allocations
// and temporary allocations per stack, leaks at the end, and the heap over time.
//
// Ordering: a thread's events arrive in order; events of different threads arrive a packet at a
// time. Every event carries the process-wide sequence number the preload took when it happened,
// and events are applied in that order: one that arrives early waits until every event numbered
// before it has been applied. So the current heap, the peak, what held it and the timeline are
// those of the program's own order of events, with any number of threads, the same on every run
// of a deterministic program. (The preload sends a batch that falls far behind, so few events
// wait; a number that never comes, from a batch lost when a process died, is given up on at
// the end of the stream, at the exit scan, or past a bound, and counted in missing_events.)
//
// Not thread-safe; the caller feeds it from one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "heap/reachability.hpp"

namespace perfscope::heap {

// Per allocation stack ("site"), in bytes requested and blocks.
struct SiteStats {
  std::uint64_t alloc_count = 0, alloc_bytes = 0;
  std::uint64_t temporary_count = 0, temporary_bytes = 0;  // freed right after (see below)
  std::uint64_t peak_count = 0, peak_bytes = 0;            // live at the peak snapshot
  std::uint64_t live_count = 0, live_bytes = 0;            // live now; at the end: not freed
  // Of live at exit, by LeakKind (memcheck's classes), when the reachability scan ran.
  std::array<std::uint64_t, kLeakKinds> leak_count{}, leak_bytes{};
  std::uint64_t leaked(LeakKind k) const { return leak_bytes[static_cast<std::size_t>(k)]; }
  std::uint64_t leaked_blocks(LeakKind k) const { return leak_count[static_cast<std::size_t>(k)]; }
};

enum class ImageOrigin {
  command,   // the command perfscope started
  forked,    // a fork child of a traced process
  execed,    // a program a traced process exec'd (same pid, new image)
  spawned,   // another process that loaded the preload (posix_spawn, vfork + exec)
  attached,  // a running process perfscope attached to (mem -p): earlier blocks are unknown
};

enum class ImageEnd {
  running,     // no end seen (the stream ended first: killed by SIGKILL, or still running)
  exit,        // exit() or return from main
  quick_exit,  // _exit() without exit handlers
  signal,      // a fatal signal
  exec,        // replaced by exec
  detached,    // perfscope detached (mem -p); the process runs on
};

enum class Reachability {
  unknown,     // no scan: the image did not end with exit(), or the scan failed (see reason)
  classified,  // live blocks split into memcheck's four classes (LeakKind)
};

// The live heap over time as a series of levels: from `time_ns` on the heap was `bytes`, until
// the next point. Times come from a clock read every few events (a few ms apart), so several
// points may share a time: within one clock tick, the turns of the heap larger than 1/128 of the
// peak (a high before a drop, a low before a rise), its highest value, and the heap at the end of
// the tick, in that order.
struct HeapPoint {
  std::int64_t time_ns = 0;  // since the image started
  std::int64_t bytes = 0;
};

struct ProcessImage {
  int pid = 0, parent_pid = 0;
  ImageOrigin origin = ImageOrigin::command;
  std::string exe;
  std::uint64_t start_ns = 0, end_ns = 0;  // CLOCK_MONOTONIC
  ImageEnd end = ImageEnd::running;
  int end_detail = 0;  // the signal number for ImageEnd::signal, the status for quick_exit

  // Stacks by site index: return addresses, the allocating function's caller first.
  std::vector<std::vector<std::uint64_t>> stacks;
  std::vector<SiteStats> sites;  // same index as stacks

  std::uint64_t allocations = 0, frees = 0, bytes_allocated = 0;
  std::uint64_t temporary = 0;  // allocations freed by the same thread with nothing in between
  std::uint64_t current_bytes = 0, current_blocks = 0;
  std::uint64_t peak_bytes = 0;
  std::int64_t peak_time_ns = 0;          // since start
  std::uint64_t peak_snapshot_bytes = 0;  // the heap when sites' peak_* were taken (= peak_bytes
                                          // unless the peak crept up in steps under 0.5%)
  std::uint64_t unknown_frees = 0;        // frees of blocks this image did not allocate (a fork
                                    // child freeing inherited memory, realloc of such a block)
  std::uint64_t threads = 0;
  std::uint64_t missing_events = 0;  // numbered but never received (see Ordering above)
  std::uint64_t bad_stack_ids = 0;   // stack definitions with an impossible id, left out

  Reachability reachability = Reachability::unknown;
  std::string reachability_note;  // why unknown, or what the scan read
  std::vector<HeapPoint> timeline;

  std::string maps;  // the union of every /proc/self/maps snapshot (for symbolization)
};

class HeapAnalysis {
 public:
  HeapAnalysis();
  ~HeapAnalysis();
  HeapAnalysis(HeapAnalysis&&) noexcept;
  HeapAnalysis& operator=(HeapAnalysis&&) noexcept;

  // Which pid perfscope started: its first image is ImageOrigin::command.
  void set_command_pid(int pid);

  // Bytes as read from the pipe, any split. Errors for a stream that is not the preload's (bad
  // magic or size); the analysis is then unusable.
  Status feed(std::string_view bytes);

  // The stream ended (every writer closed it, or the caller gave up). Live blocks become leaks.
  // Images in order of first appearance.
  std::vector<ProcessImage> finish();

  // How scan requests are answered. The default scans with scan_reachable() and writes the reply
  // byte to /proc/PID/fd/FD. Tests may replace it.
  using Scanner = std::function<Result<ReachabilityResult>(
      int pid, const std::vector<LiveBlock>& blocks, const std::vector<AddressRange>& exclude)>;
  void set_scanner(Scanner scanner);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace perfscope::heap
