// RingSet: the one owner of perf ring buffers. Opens a list of events for every target thread on
// every chosen CPU, maps one ring per CPU, watches the rings (and extra descriptors) with one
// epoll, and drains every ring in passes. Session (sampling) and the syscall tracer's perf backend
// are its users; nothing else opens rings.
//
// Kernel protocol, in this order (PERF_EVENT_IOC_SET_OUTPUT into an event that has no mapped ring
// fails with EINVAL):
//   1. open every event of a CPU; the first one opened there owns the CPU's ring;
//   2. mmap the owner's ring;
//   3. redirect the CPU's other events into it (PERF_EVENT_IOC_SET_OUTPUT).
// A thread that exits between listing and opening (ESRCH) is skipped and named in vanished(); only
// when every target is gone is that an error. Over the locked-memory budget (mmap EPERM), every
// ring is halved and the whole set opened again, so rings and watermarks stay consistent.
//
// An event whose task has exited reports EPOLLHUP for good (level-triggered: it would end every
// wait at once). The ring then watches the next event writing into it (a redirected event wakes
// like the owner does); once none is left the ring leaves the epoll set but is still drained on
// every pass, since inherited events of live threads may still write there.
//
// Every event is stamped with CLOCK_MONOTONIC (attr.use_clockid), the clock of a pass's start, so
// a sink can tell which records every ring has surely delivered (RecordSink::on_pass_end).
// One thread uses a RingSet; move-only.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "sampling/ring_buffer.hpp"
#include "system/capabilities.hpp"

namespace perfscope::sampling {

// Where drained records go undecoded: each whole record (perf_event_header first, 8-byte aligned,
// valid only during the call), then the end of each pass over the rings with the pass's start
// (CLOCK_MONOTONIC ns): every record stamped earlier than that was written before the pass began.
// BackgroundDecoder is one: it decodes on another thread.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_record(std::span<const std::byte> record) = 0;
  virtual void on_pass_end(std::uint64_t pass_start) = 0;
};

// One event to open for every target on every CPU.
struct RingEvent {
  perf_event_attr attr{};  // watermark, wakeup_watermark and the clock are set by RingSet
  std::string name;        // for errors: "cpu-clock", "raw_syscalls:sys_enter"
};

struct RingSetOptions {
  std::vector<RingEvent> events;  // opened in this order for each target on each CPU
  std::vector<pid_t> targets;     // threads; empty: every task on each CPU (pid -1)
  CpuSet cpus;                    // empty: every online CPU
  std::size_t ring_pages = 8;     // data pages per ring (a power of two); see default_ring_pages
};

struct RingSetStats {
  std::uint64_t records = 0;      // handed to sinks
  std::uint64_t ring_errors = 0;  // drains that found a corrupt ring (the rest was skipped)
  std::uint64_t hangups = 0;      // events found hung up (task gone): no longer watched
};

// Data pages per ring for `rings` rings: up to `max_pages` for a user whose locked memory is not
// limited (CAP_PERFMON, CAP_IPC_LOCK), else up to `max_pages_limited` within perf_event_mlock_kb
// per online CPU.
std::size_t default_ring_pages(std::size_t rings, const system::Capabilities& caps,
                               std::size_t max_pages, std::size_t max_pages_limited);

// True for the Error RingSet::open returns when even 8-page rings exceed this user's locked-memory
// budget (an EPERM from mmap, not from perf_event_open: no other event or scope would help).
bool over_mlock_budget(const Error& error);

class RingSet {
 public:
  RingSet() = default;  // empty (no rings), to be assigned from open()
  RingSet(RingSet&&) noexcept = default;
  RingSet& operator=(RingSet&&) noexcept = default;

  // Opens options.events for each target on each CPU, disabled as their attrs say, maps and
  // redirects as above. Open failures come back explained (system::explain_open_failure) with
  // the kernel's errno, so callers can fall back and retry.
  static Result<RingSet> open(RingSetOptions options, const system::Capabilities& caps);

  Status enable();   // every event; tries them all, returns the first failure
  Status disable();  // likewise

  // Adds a descriptor (pidfd, signalfd, ...) whose readability ends a wait early. Not owned; it
  // must stay open while watched.
  Status watch(int fd);
  // Stops watching `fd` (a pidfd whose process has exited but is not reaped yet stays readable
  // and would wake every wait).
  Status unwatch(int fd);
  // Waits up to `timeout_ms` for a ring past its watermark or a watched descriptor, handing the
  // watch of a hung-up event to the next one of its ring. True when a watched descriptor is
  // readable. A watched descriptor that hangs up (the pidfd of a process gone and reaped: -p A,B
  // once A exits) is reported once, then no longer watched. Reads no ring: drain() does.
  Result<bool> wait(int timeout_ms);
  // One pass: every ring (watched or not) into `sink`, then sink.on_pass_end(pass start).
  void drain(RecordSink& sink);

  std::size_t ring_pages() const { return options_.ring_pages; }  // after any halving
  std::size_t ring_count() const { return rings_.size(); }
  // Rings whose wake-ups still reach the epoll set (a ring all of whose events hung up has none).
  std::size_t rings_watched() const;
  // The events as opened (after RingSet's own fields were set), in options order.
  const std::vector<RingEvent>& events() const { return options_.events; }
  // Targets that had exited before their events could be opened (ESRCH).
  const std::vector<pid_t>& vanished() const { return vanished_; }
  const RingSetStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }  // of the last ring error

 private:
  struct Ring {
    int cpu = -1;
    RingBuffer buffer;
    std::vector<int> fds;     // every event writing here, the owner first
    std::size_t watched = 0;  // index into fds of the one in the epoll set; fds.size(): none
  };
  Status open_all(const system::Capabilities& caps, bool& over_budget);
  Status watch_next(std::size_t ring);
  Status ioctl_all(unsigned long request, const char* what);  // every event, first failure kept

  RingSetOptions options_;
  std::vector<UniqueFd> fds_;
  std::vector<Ring> rings_;
  UniqueFd epoll_;
  std::vector<int> watched_;  // watch()ed descriptors, by the index in their epoll data
  std::vector<pid_t> vanished_;
  RingSetStats stats_;
  std::string last_error_;
};

}  // namespace perfscope::sampling
