// The two ways `record` samples, behind one interface the Recorder drives:
// - perf rings: the sampling event's records come through per-CPU ring buffers (sampling::Session)
//   and are decoded, unwound (DWARF mode, on a thread of their own) and aggregated in user space;
// - eBPF: a perf_event BPF program aggregates (stack, thread, CPU) counts in the kernel
//   (bpf::Profiler), drained once a second; a side-band Session on the dummy event carries the
//   MMAP2/COMM/FORK/EXIT records that symbolization needs.
// Both feed one sampling::Collector, which the profile builder reads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/offcpu.hpp"
#include "bpf/profiler.hpp"
#include "core/error.hpp"
#include "sampling/collector.hpp"
#include "sampling/session.hpp"
#include "system/capabilities.hpp"

namespace perfscope::recording {

// What a backend reports for the summary and the profile's comments.
struct BackendReport {
  std::string event;  // as sampled, after fallbacks
  std::uint64_t frequency = 0;
  bool user_only = false;
  std::string stacks_how;  // "frame-pointer call chains", "DWARF-unwound user stacks (...)"
  std::uint64_t lost = 0;
  std::uint64_t idle_skipped = 0;
  std::vector<std::string> loss_lines;    // "Lost: ...", "Stacks not captured: ...", "Dropped: ..."
  std::vector<std::string> unwind_lines;  // DWARF: the unwinding quality
  std::string unwinding_line;             // DWARF: the unwinding thread's throughput
  std::uint64_t unreadable = 0;
  std::string unreadable_reason;
  std::vector<std::string> notes;     // said at open, also kept in the profile
  std::vector<std::string> comments;  // kept in the profile only ("throttled 3 times")
  std::uint64_t kernel_samples = 0;   // eBPF: samples counted in the kernel
  // An unwinder that knows where each user stack ended (DWARF's StopReason::outermost, the eBPF
  // unwinder's end of the CFI) counts the stacks it walked to the outermost frame; the summary's
  // completeness figure then takes this count instead of matching entry-point names in the
  // profile (which cannot see the end of a stripped program's stack). Unset: no such unwinder.
  struct CompleteStacks {
    std::uint64_t complete = 0;     // user stacks that reached the outermost frame
    std::uint64_t user_stacks = 0;  // user stacks walked
  };
  std::optional<CompleteStacks> complete_user_stacks;
  // Off-CPU and wall-clock recordings: on- and off-CPU time per thread, said after the totals.
  std::vector<std::string> time_lines;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual const char* name() const = 0;  // "perf (ring buffers)", "bpf (in-kernel aggregation)"
  virtual bool in_kernel() const = 0;    // aggregates in the kernel (eBPF)
  // Adds a descriptor whose readability ends a wait early (signalfd, pidfd).
  Status watch(int fd) { return session_.watch(fd); }
  Status unwatch(int fd) { return session_.unwatch(fd); }
  // Starts sampling; with `on_exec`, the events start themselves when the held command execs.
  virtual Status start(bool on_exec) = 0;
  // Waits up to `timeout_ms` and takes what arrived; true when a watched descriptor is ready.
  virtual Result<bool> wait(int timeout_ms) = 0;
  // Takes everything sampled so far into the collector now, sampling going on (a live view's
  // refresh: the eBPF maps are drained and reset, the rings read to their head). The default
  // reads what a wait without waiting takes.
  virtual Status drain_now() {
    auto woken = wait(0);
    if (!woken) return woken.error();
    return {};
  }
  // A live view drains at each refresh (drain_now): a backend that also drains on a timer of its
  // own may wait up to `interval_s` between those (capped by what its maps can hold), so a view
  // refreshing every 2 s wakes once per refresh, not twice. Called before start().
  virtual void drain_with_refreshes(double /*interval_s*/) {}
  // Stops sampling and takes everything still in the rings and maps.
  virtual Status finish() = 0;
  virtual BackendReport report() const = 0;

  sampling::Collector& collector() { return *collector_; }
  const sampling::Collector& collector() const { return *collector_; }
  const sampling::Session& session() const { return session_; }

 protected:
  Backend(sampling::Session session, std::unique_ptr<sampling::Collector> collector)
      : session_(std::move(session)), collector_(std::move(collector)) {}
  sampling::Session session_;
  std::unique_ptr<sampling::Collector> collector_;  // a stable address for the decoder thread
};

// `options` are the sampling event's (frequency, CPUs, threads, call chains, DWARF stack copies).
Result<std::unique_ptr<Backend>> open_perf_backend(const sampling::SamplingOptions& options,
                                                   bool skip_idle,
                                                   const system::Capabilities& caps);
// The eBPF backend: `profiler` options, and the CPUs its side-band Session opens on.
Result<std::unique_ptr<Backend>> open_bpf_backend(bpf::ProfilerOptions profiler,
                                                  const system::Capabilities& caps);
// Off-CPU time from the scheduler's switches (`record --off-cpu`), with the on-CPU samples of
// `on_cpu` in the same collector when given (`--wall`).
Result<std::unique_ptr<Backend>> open_offcpu_backend(std::optional<bpf::ProfilerOptions> on_cpu,
                                                     bpf::OffCpuOptions off_cpu, const CpuSet& cpus,
                                                     const system::Capabilities& caps);
// The side-band an eBPF recording still needs from perf: MMAP2/COMM/FORK/EXIT records, carried
// by the dummy event (it counts nothing and never samples) on every CPU of `cpus`.
sampling::SamplingOptions side_band_options(const CpuSet& cpus);

}  // namespace perfscope::recording
