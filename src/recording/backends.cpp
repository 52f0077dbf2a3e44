// The perf-ring and eBPF implementations of recording::Backend.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "core/clock.hpp"
#include "recording/backend.hpp"
#include "recording/call_graph.hpp"
#include "recording/side_band_tap.hpp"
#include "sampling/background_decoder.hpp"
#include "unwind/dwarf_unwinder.hpp"
#include "unwind_abi.h"

namespace perfscope::recording {
namespace {

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::unique_ptr<sampling::Collector> new_collector(bool skip_idle) {
  auto c = std::make_unique<sampling::Collector>();
  c->set_skip_idle(skip_idle);
  return c;
}

// Records come through the rings. In DWARF mode they are copied out on this thread and decoded,
// unwound and aggregated on another, so unwinding never holds up the ring reading.
class PerfRingsBackend final : public Backend {
 public:
  PerfRingsBackend(sampling::Session session, bool skip_idle)
      : Backend(std::move(session), new_collector(skip_idle)) {
    const perf_event_attr& attr = session_.attr();
    if (attr.sample_stack_user != 0) {
      unwinder_.emplace(unwind::UnwinderOptions{.regs_mask = attr.sample_regs_user});
      collector_->set_unwinder(&*unwinder_, attr.sample_stack_user);
      background_.emplace(attr, *collector_);
    }
  }
  const char* name() const override { return "perf (ring buffers)"; }
  bool in_kernel() const override { return false; }

  Status start(bool on_exec) override {
    if (on_exec) return {};  // enable_on_exec: the kernel starts the events at the command's exec
    return session_.enable();
  }
  Result<bool> wait(int timeout_ms) override {
    return background_ ? session_.poll(timeout_ms, *background_)
                       : session_.poll(timeout_ms, *collector_);
  }
  Status drain_now() override {
    if (background_) {
      session_.drain(*background_);
    } else {
      session_.drain(*collector_);
    }
    return {};
  }
  Status finish() override {
    (void)session_.disable();
    if (background_) {
      session_.drain(*background_);
      // How long the end of recording waits for the unwinding thread to catch up.
      const double start = monotonic_seconds();
      background_->finish();
      unwind_wait_s_ = monotonic_seconds() - start;
    } else {
      session_.drain(*collector_);
    }
    collector_->finish();
    return {};
  }

  BackendReport report() const override {
    const sampling::SamplingOptions& o = session_.options();
    BackendReport r;
    r.event = o.event.display_name();
    r.frequency = o.frequency;
    r.user_only = o.user_only;
    r.notes = session_.notes();
    if (unwinder_) {
      r.stacks_how = fmt::format("DWARF-unwound user stacks ({}-byte copies){}", o.stack_user_bytes,
                                 o.callchain ? " and kernel call chains" : "");
    } else {
      r.stacks_how = o.callchain ? "frame-pointer call chains" : "no call chains";
    }
    const sampling::Collector& c = *collector_;
    const std::uint64_t dropped = background_ ? background_->dropped_samples() : 0;
    r.lost = c.lost_records() + c.lost_samples() + dropped;
    r.idle_skipped = c.idle_skipped();
    r.loss_lines.push_back(fmt::format(
        "Lost: {} (ring buffer full), {} (dropped by the kernel); "
        "throttled {}",
        plural(c.lost_records(), "sample", "samples"),
        plural(c.lost_samples(), "sample", "samples"), plural(c.throttled(), "time", "times")));
    if (dropped > 0) {
      r.loss_lines.push_back(fmt::format("Dropped: {} while the unwinding thread was {} MiB behind",
                                         plural(dropped, "sample", "samples"),
                                         background_->peak_queued_bytes() >> 20));
    }
    r.comments.push_back(fmt::format("throttled {} times", c.throttled()));
    if (unwinder_) {
      r.unwind_lines = unwind_summary(unwinder_->stats());
      const auto& u = unwinder_->stats();
      r.complete_user_stacks =
          BackendReport::CompleteStacks{u.count(unwind::StopReason::outermost), u.samples};
      if (u.samples > 0) {
        const double unwind_s = static_cast<double>(u.cpu_ns) / 1e9;
        r.unwinding_line = fmt::format(
            "Unwinding: {} stacks in {:.3f} s of CPU on its own thread ({:.0f} stacks/s; waited "
            "{:.3f} s for it at the end); {} modules, {} CFI rules cached",
            u.samples, unwind_s, unwind_s > 0 ? static_cast<double>(u.samples) / unwind_s : 0.0,
            unwind_wait_s_, unwinder_->modules_opened(), unwinder_->rules_cached());
      }
    }
    r.unreadable = session_.stats().decode_errors + session_.stats().ring_errors +
                   (background_ ? background_->decode_errors() : 0);
    r.unreadable_reason = background_ && !background_->last_error().empty()
                              ? background_->last_error()
                              : session_.last_error();
    return r;
  }

 private:
  std::optional<unwind::DwarfUnwinder> unwinder_;
  std::optional<sampling::BackgroundDecoder> background_;
  double unwind_wait_s_ = 0;
};

// The in-kernel walker's summary: how many stacks it walked to the end, why the others stopped
// (the files where most did first), and what its tables cost.
std::vector<std::string> cfi_unwind_lines(const bpf::ProfilerStats& s,
                                          const bpf::UnwindTables& tables) {
  std::vector<std::string> lines;
  const auto& t = tables.stats();
  const std::uint64_t walks = s.walks();
  const std::uint64_t complete = s.complete_walks();
  lines.push_back(fmt::format(
      "In-kernel unwinding: {} of {} user stacks ({:.1f}%) reached the outermost frame; {} "
      "frames by CFI, {} by frame pointer; {} samples before their process's tables were loaded "
      "(frame pointers)",
      complete, walks,
      walks > 0 ? 100.0 * static_cast<double>(complete) / static_cast<double>(walks) : 0.0,
      s.cfi_frames, s.fp_frames, s.cfi_pending));
  // The programs with the most walked samples, each with its share of complete stacks.
  std::vector<std::pair<std::uint64_t, std::string>> busiest;
  for (const auto& [comm, counts] : s.complete_by_comm) {
    busiest.emplace_back(counts.second, comm);
  }
  std::sort(busiest.rbegin(), busiest.rend());
  std::vector<std::string> shares;
  for (std::size_t i = 0; i < busiest.size() && i < 6; ++i) {
    const auto& [done, all] = s.complete_by_comm.at(busiest[i].second);
    shares.push_back(fmt::format(
        "{} {:.1f}% of {}", busiest[i].second,
        all > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(all) : 0.0, all));
  }
  if (!shares.empty()) {
    lines.push_back(fmt::format("  complete by program (samples): {}", fmt::join(shares, ", ")));
  }
  for (std::uint32_t r = PS_STOP_ZERO_RA + 1; r < s.stops.size(); ++r) {
    if (s.stops[r] == 0) continue;
    // The file where this reason ended the most walks.
    std::string worst;
    std::uint64_t worst_n = 0;
    for (const auto& [key, n] : s.stops_by_file) {
      if (key.second == bpf::stop_reason_name(r) && n > worst_n) {
        worst = key.first;
        worst_n = n;
      }
    }
    lines.push_back(
        fmt::format("  stopped early: {} {}{}", s.stops[r], bpf::stop_reason_name(r),
                    worst.empty() ? "" : fmt::format(" (most in {}: {})", worst, worst_n)));
  }
  if (s.ustacks_full > 0) {
    lines.push_back(
        fmt::format("  lost: {} walked stacks (stack map full; raise "
                    "--bpf-stack-entries)",
                    s.ustacks_full));
  }
  lines.push_back(fmt::format(
      "Unwind tables: {} files, {:.1f} MiB in BPF maps now (peak {:.1f} MiB, limit {} MiB), "
      "{} evicted, {} without a table; built in {:.3f} s of CPU ({} read from {})",
      t.files, static_cast<double>(t.bytes) / 1048576.0,
      static_cast<double>(t.peak_bytes) / 1048576.0, tables.limit_bytes() >> 20, t.evictions,
      t.tables_failed, t.compile_cpu_s, t.tables_from_cache,
      tables.cache_dir().empty() ? "no cache" : tables.cache_dir()));
  std::size_t shown = 0;
  for (const auto& [file, why] : t.failures) {
    if (shown++ == 3) {
      lines.push_back(fmt::format("  ... and {} more without a table", t.failures.size() - 3));
      break;
    }
    lines.push_back(fmt::format("  no table for {}: {}", file, why));
  }
  return lines;
}

// The in-kernel counts are drained once a second (and at the end), so the maps never have to
// hold more than a second of distinct stacks; a live view refreshing less often drains at its
// refreshes, up to kMaxDrainInterval apart. The side-band rings are read first: every exec or
// mmap a drained sample depends on was written before it.
class BpfBackend final : public Backend {
 public:
  static constexpr double kDrainInterval = 1.0;  // seconds
  // The longest a live view's drains wait: 4 s of distinct stacks fit the counts map (16384
  // keys per generation) on all but the busiest machines, whose overflow is counted as lost;
  // the stack maps fill as much more between drains, so more stacks collide (counted as "not
  // captured" in the report).
  static constexpr double kMaxDrainInterval = 4.0;
  // How soon a process the walker met gets its tables (it uses frame pointers until then).
  static constexpr int kTablePollMs = 10;

  BpfBackend(sampling::Session side_band, bpf::Profiler profiler)
      : Backend(std::move(side_band), new_collector(profiler.options().skip_idle)),
        profiler_(std::move(profiler)),
        tap_(*collector_, profiler_.unwind_tables()) {
    // Counts carry no time of their own: each drain's are placed at the middle of the interval
    // they were counted in, so the time labels are as fine as the drains are frequent.
    collector_->set_bucket_ns(static_cast<std::uint64_t>(kDrainInterval * 1e9));
  }
  const char* name() const override { return "bpf (in-kernel aggregation)"; }
  bool in_kernel() const override { return true; }
  void drain_with_refreshes(double interval_s) override {
    drain_interval_ = std::clamp(interval_s, kDrainInterval, kMaxDrainInterval);
    collector_->set_bucket_ns(static_cast<std::uint64_t>(drain_interval_ * 1e9));
  }

  Status start(bool) override {
    // Side-band first, so no exec or mmap of a sampled process is missed.
    if (auto st = session_.enable(); !st) return st;
    next_drain_ = monotonic_seconds() + drain_interval_;
    collector_->set_time_origin(monotonic_ns());  // time buckets count from the start
    return profiler_.start();
  }
  Result<bool> wait(int timeout_ms) override {
    if (monotonic_seconds() >= next_drain_) {
      if (auto st = drain(); !st) return st.error();
      next_drain_ = monotonic_seconds() + drain_interval_;
    }
    const double left_ms = (next_drain_ - monotonic_seconds()) * 1000;
    int timeout = std::max(0, std::min(timeout_ms, static_cast<int>(left_ms) + 1));
    bpf::UnwindTables* tables = profiler_.unwind_tables();
    if (tables != nullptr) timeout = std::min(timeout, kTablePollMs);
    auto woken = session_.poll(timeout, tap_);
    if (tables != nullptr) tables->poll();
    return woken;
  }
  Status drain_now() override {
    if (auto st = drain(); !st) return st;
    next_drain_ = monotonic_seconds() + drain_interval_;
    return {};
  }
  Status finish() override {
    profiler_.stop();
    (void)session_.disable();
    session_.drain(tap_);
    if (auto st = drain(); !st) return st;
    collector_->finish();
    return {};
  }

  BackendReport report() const override {
    const bpf::ProfilerOptions& o = profiler_.options();
    const bpf::ProfilerStats s = profiler_.stats();
    BackendReport r;
    r.event = o.event.display_name();
    r.frequency = o.frequency;
    r.user_only = !o.kernel_stacks;
    r.stacks_how = o.cfi_unwind ? "user stacks walked in the kernel with .eh_frame tables "
                                  "(frame pointers where a module has none)"
                                : "frame-pointer call chains";
    if (const bpf::UnwindTables* tables = profiler_.unwind_tables()) {
      r.unwind_lines = cfi_unwind_lines(s, *tables);
      // Walks that reached the CFI's end, of every user stack (those taken by frame pointer
      // before the tables were loaded count as not known to be complete).
      r.complete_user_stacks =
          BackendReport::CompleteStacks{s.complete_walks(), s.walks() + s.cfi_pending};
    }
    r.notes = session_.notes();
    r.notes.insert(r.notes.end(), profiler_.notes().begin(), profiler_.notes().end());
    r.lost = s.counts_full;
    r.idle_skipped = s.idle;
    r.loss_lines.push_back(fmt::format(
        "Lost: {} (BPF counts map full), {} (side-band ring buffer full); throttled: not "
        "visible to BPF",
        plural(s.counts_full, "sample", "samples"),
        plural(collector_->lost_records(), "record", "records")));
    r.loss_lines.push_back(fmt::format(
        "Stacks not captured: kernel {} (map collision) + {} (error), user {} (map collision) + "
        "{} (unreadable); --bpf-stack-entries {} per generation",
        s.kernel_stack_collisions, s.kernel_stack_errors, s.user_stack_collisions,
        s.user_stack_errors, o.stack_entries));
    r.unreadable = session_.stats().decode_errors + session_.stats().ring_errors;
    r.unreadable_reason = session_.last_error();
    r.kernel_samples = s.samples;
    if (s.program_runs > 0) {
      r.loss_lines.push_back(fmt::format(
          "BPF program: {:.3f} s in {} runs ({:.1f} us each; kernel.bpf_stats_enabled)",
          static_cast<double>(s.program_run_ns) / 1e9, s.program_runs,
          static_cast<double>(s.program_run_ns) / 1e3 / static_cast<double>(s.program_runs)));
    }
    return r;
  }

 private:
  Status drain() {
    return profiler_.drain(*collector_, [this] { session_.drain(tap_); });
  }
  bpf::Profiler profiler_;
  SideBandTap tap_;
  double next_drain_ = 0;
  double drain_interval_ = kDrainInterval;
};

}  // namespace

sampling::SamplingOptions side_band_options(const CpuSet& cpus) {
  sampling::SamplingOptions sb;
  sb.event = events::software_event("dummy", PERF_COUNT_SW_DUMMY);
  sb.frequency = 0;
  sb.period = 1;
  sb.callchain = false;
  sb.cpus = cpus;
  sb.ring_pages = 64;
  return sb;
}

Result<std::unique_ptr<Backend>> open_perf_backend(const sampling::SamplingOptions& options,
                                                   bool skip_idle,
                                                   const system::Capabilities& caps) {
  auto session = sampling::Session::open(options, caps);
  if (!session) return session.error();
  return std::unique_ptr<Backend>(new PerfRingsBackend(std::move(*session), skip_idle));
}

Result<std::unique_ptr<Backend>> open_bpf_backend(bpf::ProfilerOptions options,
                                                  const system::Capabilities& caps) {
  const CpuSet cpus = options.cpus;
  auto profiler = bpf::Profiler::open(std::move(options), caps);
  if (!profiler) return profiler.error();
  auto session = sampling::Session::open(side_band_options(cpus), caps);
  if (!session) return session.error();
  return std::unique_ptr<Backend>(new BpfBackend(std::move(*session), std::move(*profiler)));
}

}  // namespace perfscope::recording
