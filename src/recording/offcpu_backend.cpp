// The off-CPU backend of `record --off-cpu` and `--wall`: bpf::OffCpuProfiler counts the time
// target threads spend off the CPU per (thread, state, stacks) in the kernel; with --wall the
// on-CPU bpf::Profiler samples the same threads into the same Collector, so one profile holds a
// thread's whole life in nanoseconds. A side-band Session carries the mmaps and execs.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "core/clock.hpp"
#include "recording/backend.hpp"
#include "recording/side_band_tap.hpp"

namespace perfscope::recording {
namespace {

std::string seconds(std::uint64_t ns) {
  return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
}

class OffCpuBackend final : public Backend {
 public:
  // Seconds between drains of the on-CPU and off-CPU counts: the maps hold one interval's stacks.
  static constexpr double kDrainInterval = 1.0;
  // How soon a process the walker met gets its tables (frame pointers until then).
  static constexpr int kTablePollMs = 10;

  OffCpuBackend(sampling::Session side_band, std::optional<bpf::Profiler> on_cpu,
                bpf::OffCpuProfiler off_cpu)
      : Backend(std::move(side_band), std::make_unique<sampling::Collector>()),
        on_cpu_(std::move(on_cpu)),
        off_cpu_(std::move(off_cpu)),
        tables_(on_cpu_ && on_cpu_->unwind_tables() ? on_cpu_->unwind_tables()
                                                    : off_cpu_.unwind_tables()),
        tap_(*collector_, tables_) {}
  const char* name() const override { return "bpf (in-kernel aggregation)"; }
  bool in_kernel() const override { return true; }

  Status start(bool) override {
    if (auto st = session_.enable(); !st) return st;
    next_drain_ = monotonic_seconds() + kDrainInterval;
    if (auto st = off_cpu_.start(); !st) return st;
    return on_cpu_ ? on_cpu_->start() : Status{};
  }
  // A live view's refresh: the on-CPU counts and the off-CPU intervals that ended.
  Status drain_now() override {
    if (auto st = drain(); !st) return st;
    next_drain_ = monotonic_seconds() + kDrainInterval;
    return {};
  }
  Result<bool> wait(int timeout_ms) override {
    if (monotonic_seconds() >= next_drain_) {
      if (auto st = drain(); !st) return st.error();
      next_drain_ = monotonic_seconds() + kDrainInterval;
    }
    const double left_ms = (next_drain_ - monotonic_seconds()) * 1000;
    int timeout = std::max(0, std::min(timeout_ms, static_cast<int>(left_ms) + 1));
    if (tables_ != nullptr) timeout = std::min(timeout, kTablePollMs);
    auto woken = session_.poll(timeout, tap_);
    if (tables_ != nullptr) tables_->poll();
    return woken;
  }
  Status finish() override {
    off_cpu_.stop();
    if (on_cpu_) on_cpu_->stop();
    (void)session_.disable();
    session_.drain(tap_);
    if (on_cpu_) {
      if (auto st = drain_on_cpu(); !st) return st;
    }
    if (auto st = off_cpu_.drain_all(*collector_); !st) return st;
    collector_->finish();
    return {};
  }

  BackendReport report() const override {
    const bpf::OffCpuStats s = off_cpu_.stats();
    BackendReport r;
    r.event = on_cpu_ ? "wall" : "off-cpu";
    r.frequency = on_cpu_ ? on_cpu_->options().frequency : 0;
    r.stacks_how = off_cpu_.options().cfi_unwind
                       ? "user stacks walked in the kernel with .eh_frame tables (frame pointers "
                         "where a module has none)"
                       : "frame-pointer call chains";
    if (off_cpu_.options().cfi_unwind) {
      r.unwind_lines.push_back(fmt::format(
          "Off-CPU user stacks walked in the kernel: {} of {} ({:.1f}%) reached the outermost "
          "frame; {} frames by CFI, {} by frame pointer; {} switches before their process's "
          "tables were loaded (frame pointers); {} lost (walked-stack map full)",
          s.complete_walks(), s.cfi_stacks,
          s.cfi_stacks
              ? 100.0 * static_cast<double>(s.complete_walks()) / static_cast<double>(s.cfi_stacks)
              : 0.0,
          s.cfi_frames, s.fp_frames, s.cfi_pending, s.ustacks_full));
      if (tables_ != nullptr) {
        const auto& t = tables_->stats();
        r.unwind_lines.push_back(fmt::format(
            "Unwind tables: {} files, {:.1f} MiB in BPF maps (limit {} MiB), {} evicted{}",
            t.tables_loaded, static_cast<double>(t.bytes) / (1 << 20), tables_->limit_bytes() >> 20,
            t.evictions, on_cpu_ ? "; shared by the on-CPU and off-CPU programs" : ""));
      }
    }
    r.notes = session_.notes();
    if (on_cpu_) r.notes.insert(r.notes.end(), on_cpu_->notes().begin(), on_cpu_->notes().end());
    r.lost = s.lost();
    r.loss_lines.push_back(fmt::format(
        "Off-CPU: {} switches of target threads, {} intervals counted, {} shorter than "
        "--min-block {} ns ({} of all these returned to a CPU without a switch the program saw: "
        "measured as the time away less the thread's CPU time); lost: {} (counts map full) + {} "
        "(pending-switch map full) + {} (switches the program missed: run while it ran) + {} "
        "(stale start of an earlier thread); {} threads off the CPU at the end",
        s.switches, s.counted, s.short_blocks, off_cpu_.options().min_block_ns, s.unseen_returns,
        s.counts_full, s.starts_full, s.recursion_misses, s.stale_starts, s.open_at_end));
    if (on_cpu_) {
      const bpf::ProfilerStats p = on_cpu_->stats();
      r.lost += p.counts_full;
      r.kernel_samples = p.samples;
      r.loss_lines.push_back(fmt::format("On-CPU: {} samples counted in the kernel; lost: {}",
                                         p.samples, p.counts_full));
    }
    r.loss_lines.push_back(fmt::format(
        "Stacks not captured (off-CPU): kernel {}, user {} ({} of them: stack map full, "
        "--bpf-stack-entries {} distinct stacks a second); {} distinct stacks read, the maps "
        "emptied once a second",
        s.kernel_stack_errors, s.user_stack_errors + s.ustacks_full, s.stacks_full + s.ustacks_full,
        off_cpu_.options().stack_entries, s.stacks_read));
    if (s.program_runs > 0) {
      r.loss_lines.push_back(fmt::format(
          "sched_switch program: {:.3f} s in {} runs ({:.2f} us each; kernel.bpf_stats_enabled)",
          static_cast<double>(s.program_run_ns) / 1e9, s.program_runs,
          static_cast<double>(s.program_run_ns) / 1e3 / static_cast<double>(s.program_runs)));
    }
    r.unreadable = session_.stats().decode_errors + session_.stats().ring_errors;
    r.unreadable_reason = session_.last_error();
    r.time_lines = thread_lines();
    return r;
  }

 private:
  // The side band first (every exec or mmap a drained stack depends on), then both programs.
  Status drain() {
    if (on_cpu_) {
      if (auto st = drain_on_cpu(); !st) return st;
    } else {
      session_.drain(tap_);
    }
    return off_cpu_.drain(*collector_);
  }
  Status drain_on_cpu() {
    return on_cpu_->drain(*collector_, [this] { session_.drain(tap_); });
  }

  // On- and off-CPU time per thread (by state), the threads with the most time first.
  std::vector<std::string> thread_lines() const {
    struct Times {
      std::uint64_t by_state[4] = {};  // ns, by StackKey::state
      std::uint64_t total() const { return by_state[0] + by_state[1] + by_state[2] + by_state[3]; }
    };
    std::map<std::pair<std::uint32_t, std::uint32_t>, Times> threads;
    for (const auto& e : collector_->stacks().entries()) {
      if (e.key.state > 3) continue;
      threads[{e.key.pid, e.key.tid}].by_state[e.key.state] += e.period;
    }
    std::vector<std::pair<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>>> order;
    for (const auto& [id, t] : threads) order.emplace_back(t.total(), id);
    std::sort(order.rbegin(), order.rend());
    std::vector<std::string> lines;
    constexpr std::size_t kShown = 12;
    for (std::size_t i = 0; i < order.size() && i < kShown; ++i) {
      const auto [pid, tid] = order[i].second;
      const Times& t = threads.at(order[i].second);
      const std::string comm{collector_->processes().thread_comm(
          static_cast<pid_t>(tid), collector_->processes().space_of(static_cast<pid_t>(pid), 0))};
      lines.push_back(fmt::format(
          "Thread {} ({}, pid {}): {}on-CPU {}, off-CPU {} (sleeping {}, blocked {}, runnable {})",
          tid, comm, pid, on_cpu_ ? "" : "(not sampled) ", seconds(t.by_state[0]),
          seconds(t.by_state[1] + t.by_state[2] + t.by_state[3]), seconds(t.by_state[1]),
          seconds(t.by_state[2]), seconds(t.by_state[3])));
    }
    if (order.size() > kShown) {
      lines.push_back(fmt::format("... and {} more threads (perfscope report --by state)",
                                  order.size() - kShown));
    }
    return lines;
  }

  std::optional<bpf::Profiler> on_cpu_;
  bpf::OffCpuProfiler off_cpu_;
  bpf::UnwindTables* tables_;  // the on-CPU profiler's, else the off-CPU one's; may be null
  SideBandTap tap_;
  double next_drain_ = 0;
};

}  // namespace

Result<std::unique_ptr<Backend>> open_offcpu_backend(std::optional<bpf::ProfilerOptions> on_cpu,
                                                     bpf::OffCpuOptions off_cpu, const CpuSet& cpus,
                                                     const system::Capabilities& caps) {
  std::optional<bpf::Profiler> profiler;
  if (on_cpu) {
    auto p = bpf::Profiler::open(std::move(*on_cpu), caps);
    if (!p) return p.error();
    profiler.emplace(std::move(*p));
  }
  auto tracer = bpf::OffCpuProfiler::open(std::move(off_cpu), caps,
                                          profiler ? profiler->unwind_tables() : nullptr);
  if (!tracer) return tracer.error();
  auto session = sampling::Session::open(side_band_options(cpus), caps);
  if (!session) return session.error();
  return std::unique_ptr<Backend>(
      new OffCpuBackend(std::move(*session), std::move(profiler), std::move(*tracer)));
}

}  // namespace perfscope::recording
