#include "sampling/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace perfscope::sampling {
namespace {

// Decodes on the spot, for the RecordHandler overloads.
class DecodingSink : public RecordSink {
 public:
  DecodingSink(const Decoder& decoder, RecordHandler& handler, SessionStats& stats,
               std::string& last_error)
      : decoder_(decoder), handler_(handler), stats_(stats), last_error_(last_error) {}
  void on_record(std::span<const std::byte> record) override {
    if (auto st = decoder_.decode(record, handler_); !st) {
      ++stats_.decode_errors;
      last_error_ = st.error().message();
    }
  }
  void on_pass_end(std::uint64_t pass_start) override { handler_.on_pass_end(pass_start); }

 private:
  const Decoder& decoder_;
  RecordHandler& handler_;
  SessionStats& stats_;
  std::string& last_error_;
};

bool hardware_like(const events::EventSpec& spec) {
  return spec.kind == events::EventKind::hardware || spec.kind == events::EventKind::cache ||
         spec.kind == events::EventKind::raw;
}

events::EventSpec cpu_clock() {
  return events::software_event("cpu-clock", PERF_COUNT_SW_CPU_CLOCK);
}

}  // namespace

void apply_event_fallbacks(events::EventSpec& event, std::uint64_t& frequency,
                           const system::Capabilities& caps, std::vector<std::string>& notes) {
  if (event.name.empty()) event = cpu_clock();
  if (hardware_like(event) && !caps.hardware_pmu) {
    notes.push_back(fmt::format(
        "{} needs a hardware PMU, which this machine does not have (a VM?): sampling cpu-clock "
        "instead",
        event.display_name()));
    event = cpu_clock();
  }
  if (frequency > 0 && caps.max_sample_rate > 0 &&
      frequency > static_cast<std::uint64_t>(caps.max_sample_rate)) {
    const auto limit = static_cast<std::uint64_t>(caps.max_sample_rate);
    // Raising the limit is worth suggesting up to the fastest the kernel samples: its sampling
    // timer (cpu-clock, task-clock) fires at most every 10 us, and it lowers the limit on its own
    // when sample interrupts take more than perf_cpu_time_max_percent of the CPU.
    constexpr std::uint64_t kFastestUseful = 100'000;
    const std::uint64_t raise_to = std::min(frequency, kFastestUseful);
    const std::string fix =
        raise_to > limit
            ? fmt::format(
                  "; to sample faster, raise the limit: `sudo sysctl "
                  "kernel.perf_event_max_sample_rate={}`{}",
                  raise_to, raise_to < frequency ? " (the kernel samples no faster than that)" : "")
            : fmt::format("; ask for {} Hz or less", limit);
    notes.push_back(fmt::format(
        "{} Hz is beyond what the kernel allows (kernel.perf_event_max_sample_rate is {} Hz): "
        "sampling at {} Hz{}",
        frequency, limit, limit, fix));
    frequency = limit;
  }
}

Result<Session> Session::open(SamplingOptions options, const system::Capabilities& caps) {
  Session s;
  apply_event_fallbacks(options.event, options.frequency, caps, s.notes_);
  if (options.frequency == 0 && options.period == 0) options.frequency = 99;
  if (options.cpus.empty()) {
    auto online = CpuSet::online();
    if (!online) return std::move(online).take_error();
    options.cpus = *online;
  }
  s.options_ = std::move(options);
  if (s.options_.ring_pages != 0) {
    s.ring_pages_ = s.options_.ring_pages;
  } else {
    // A DWARF sample carries its stack copy (16 KiB by default): four times the ring, so that the
    // same time passes between wake-ups.
    const std::size_t scale = s.options_.stack_user_bytes > 0 ? 4 : 1;
    s.ring_pages_ = default_ring_pages(s.options_.cpus.size(), caps, 256 * scale, 128 * scale);
  }
  if (auto st = s.open_events(caps); !st) return std::move(st).take_error();
  s.decoder_ = Decoder(s.attr_);
  return s;
}

perf_event_attr Session::sampling_attr(bool build_ids) const {
  perf_event_attr a = options_.event.attr();
  a.disabled = 1;
  a.enable_on_exec = options_.enable_on_exec ? 1 : 0;
  if (options_.frequency > 0) {
    a.freq = 1;
    a.sample_freq = options_.frequency;
  } else {
    a.sample_period = options_.period;
  }
  a.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
                  PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
  if (options_.callchain) a.sample_type |= PERF_SAMPLE_CALLCHAIN;
  if (options_.callchain && !options_.user_callchain) a.exclude_callchain_user = 1;
  if (options_.regs_user_mask != 0) {
    a.sample_type |= PERF_SAMPLE_REGS_USER;
    a.sample_regs_user = options_.regs_user_mask;
  }
  if (options_.stack_user_bytes != 0) {
    a.sample_type |= PERF_SAMPLE_STACK_USER;
    a.sample_stack_user = options_.stack_user_bytes;
  }
  a.sample_id_all = 1;
  a.mmap = 1;
  a.mmap2 = 1;
  a.comm = 1;
  a.comm_exec = 1;
  a.task = 1;
  a.build_id = build_ids ? 1 : 0;
  a.inherit = (options_.inherit && !options_.threads.empty()) ? 1 : 0;
  if (options_.user_only) {
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.exclude_callchain_kernel = 1;
  }
  return a;  // RingSet adds the wake-up watermark and CLOCK_MONOTONIC
}

Status Session::open_events(const system::Capabilities& caps) {
  bool build_ids = true;
  Error failure;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const perf_event_attr a = sampling_attr(build_ids);
    // The tripwire: never ask the kernel for sample fields the decoder would misread.
    if (const Decoder decoder(a); !decoder.supported()) {
      return Error{fmt::format("sampling asks for sample_type {:#x}, which has fields the decoder "
                               "cannot read ({:#x})",
                               a.sample_type, a.sample_type & ~kDecodableSampleType),
                   0,
                   "  a perfscope bug: sampling::Decoder must learn those fields before Session "
                   "asks for them"};
    }
    auto rings =
        RingSet::open(RingSetOptions{.events = {RingEvent{a, options_.event.display_name()}},
                                     .targets = options_.threads,
                                     .cpus = options_.cpus,
                                     .ring_pages = ring_pages_},
                      caps);
    if (rings) {
      rings_ = std::move(*rings);
      attr_ = rings_.events().front().attr;
      ring_pages_ = rings_.ring_pages();
      return {};
    }
    failure = rings.error();
    const int e = failure.errnum;
    if ((e == EACCES || e == EPERM) && !over_mlock_budget(failure) && !options_.user_only &&
        !options_.threads.empty()) {
      notes_.push_back(fmt::format(
          "kernel space left out: perf_event_paranoid {} lets this user sample its own processes "
          "in user space only (for kernel stacks: perfscope doctor --need profile-own)",
          caps.paranoid));
      options_.user_only = true;
      continue;
    }
    if (e == EINVAL && build_ids) {  // kernels before 5.12 have no MMAP2 build-ids
      build_ids = false;
      continue;
    }
    if ((e == ENOENT || e == EOPNOTSUPP) && hardware_like(options_.event)) {
      notes_.push_back(fmt::format("{} cannot be sampled here ({}): sampling cpu-clock instead",
                                   options_.event.display_name(), failure.message()));
      options_.event = cpu_clock();
      continue;
    }
    break;
  }
  return failure;
}

Status Session::enable() {
  return rings_.enable();
}

Status Session::disable() {
  return rings_.disable();
}

Status Session::watch(int fd) {
  return rings_.watch(fd);
}

Status Session::unwatch(int fd) {
  return rings_.unwatch(fd);
}

Result<bool> Session::poll(int timeout_ms, RecordHandler& handler) {
  DecodingSink sink(decoder_, handler, stats_, last_error_);
  return poll(timeout_ms, sink);
}

void Session::drain(RecordHandler& handler) {
  DecodingSink sink(decoder_, handler, stats_, last_error_);
  drain(sink);
}

Result<bool> Session::poll(int timeout_ms, RecordSink& sink) {
  auto woken = rings_.wait(timeout_ms);
  if (!woken) return woken;
  // Drain every ring, not only the ready ones: rings below their watermark still hold records that
  // the others' records may refer to (a process's MMAP2 on one CPU, its samples on another).
  drain(sink);
  return woken;
}

void Session::drain(RecordSink& sink) {
  const std::uint64_t ring_errors = rings_.stats().ring_errors;
  rings_.drain(sink);
  stats_.records = rings_.stats().records;
  stats_.ring_errors = rings_.stats().ring_errors;
  if (stats_.ring_errors != ring_errors) last_error_ = rings_.last_error();
}

}  // namespace perfscope::sampling
