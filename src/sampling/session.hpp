// Session: sampling events on every chosen CPU, read through a RingSet (ring_set.hpp).
//
// One ring per CPU. System-wide, each CPU's event samples every task there; for chosen threads
// (a command, -p, -t) each thread gets an event per CPU (inherit needs per-CPU events) and all
// events of a CPU write into that CPU's ring. Side-band records (MMAP2, COMM, FORK, EXIT) come
// through the same rings, so the ProcessTable sees them in order with the samples of the CPU they
// happened on. Session decides the attr and its fallbacks; RingSet opens, maps and watches.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/error.hpp"
#include "events/event_spec.hpp"
#include "sampling/decoder.hpp"
#include "sampling/ring_set.hpp"
#include "system/capabilities.hpp"

namespace perfscope::sampling {

struct SamplingOptions {
  events::EventSpec event;       // what drives sampling; cpu-clock when empty name
  std::uint64_t frequency = 99;  // samples per second per CPU; 0 = use `period`
  std::uint64_t period = 0;      // events between samples when frequency is 0
  bool callchain = true;         // frame-pointer call chains (PERF_SAMPLE_CALLCHAIN)
  bool user_callchain = true;    // false: the kernel part only (DWARF mode unwinds user space)
  bool user_only = false;        // leave kernel space out (--no-kernel)
  CpuSet cpus;                   // CPUs to open on (all online ones normally)
  std::vector<pid_t> threads;    // empty: every task on `cpus`; else these threads
  bool inherit = true;           // follow threads and processes the targets create
  bool enable_on_exec = false;   // start sampling when the (held) target exec()s
  std::size_t ring_pages = 0;    // data pages per ring; 0 = sized from perf_event_mlock_kb
  // DWARF unwinding material per sample: user registers and this many stack bytes. Rings are
  // made larger (when the budget allows) for the bigger samples.
  std::uint64_t regs_user_mask = 0;
  std::uint32_t stack_user_bytes = 0;
};

// The fallbacks every sampling backend applies before opening `event` at `frequency`, each with a
// note saying what changed and why: no event → cpu-clock; a hardware, cache or raw event on a
// machine without a PMU → cpu-clock; a frequency above kernel.perf_event_max_sample_rate → the
// limit.
void apply_event_fallbacks(events::EventSpec& event, std::uint64_t& frequency,
                           const system::Capabilities& caps, std::vector<std::string>& notes);

struct SessionStats {
  std::uint64_t records = 0;
  std::uint64_t decode_errors = 0;
  std::uint64_t ring_errors = 0;
};

class Session {
 public:
  Session(Session&&) noexcept = default;
  Session& operator=(Session&&) noexcept = default;

  // Opens every event (disabled unless enable_on_exec), maps the rings, builds the epoll set.
  // Applies perf's fallbacks and says so in notes(): kernel space refused at this paranoid level
  // → user space only; hardware event with no PMU → cpu-clock; frequency above the kernel's
  // limit → the limit. Everything else comes back as an explained Error.
  static Result<Session> open(SamplingOptions options, const system::Capabilities& caps);

  Status enable();
  Status disable();

  // Adds a descriptor (pidfd, signalfd, ...) whose readability ends a poll() early.
  Status watch(int fd);
  Status unwatch(int fd);
  // Waits up to `timeout_ms` for data or a watched fd, then drains every ring into `handler`.
  // Returns true when a watched fd is readable. A ring whose threads have all exited no longer
  // wakes the wait (RingSet), so waiting on survivors does not spin.
  Result<bool> poll(int timeout_ms, RecordHandler& handler);
  // Drains every ring once (after disable(), to collect what is left).
  void drain(RecordHandler& handler);
  // The same, handing over the records undecoded.
  Result<bool> poll(int timeout_ms, RecordSink& sink);
  void drain(RecordSink& sink);

  const SamplingOptions& options() const { return options_; }  // after fallbacks
  const std::vector<std::string>& notes() const { return notes_; }
  const perf_event_attr& attr() const { return attr_; }
  std::size_t ring_pages() const { return ring_pages_; }
  const SessionStats& stats() const { return stats_; }
  // The last ring or decode error, for the summary (the counts are in stats()).
  const std::string& last_error() const { return last_error_; }

 private:
  Session() = default;
  // The sampling event as options_ ask (RingSet adds the watermark and the clock).
  perf_event_attr sampling_attr(bool build_ids) const;
  Status open_events(const system::Capabilities& caps);

  SamplingOptions options_;
  perf_event_attr attr_{};
  RingSet rings_;
  std::vector<std::string> notes_;
  std::size_t ring_pages_ = 0;
  SessionStats stats_;
  std::string last_error_;
  Decoder decoder_{perf_event_attr{}};
};

}  // namespace perfscope::sampling
