#include "sampling/session.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ctime>

#include "core/clock.hpp"
#include "core/perf_syscall.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::sampling {
namespace {

constexpr std::uint32_t kWatchedTag = 0x80000000u;

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
    notes.push_back(fmt::format(
        "{} Hz is above kernel.perf_event_max_sample_rate ({} Hz): sampling at {} Hz; raise the "
        "limit with `sysctl kernel.perf_event_max_sample_rate={}`",
        frequency, caps.max_sample_rate, caps.max_sample_rate, frequency));
    frequency = static_cast<std::uint64_t>(caps.max_sample_rate);
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

  // Ring size: unprivileged users share perf_event_mlock_kb per online CPU between all their rings.
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const bool unlimited = caps.perfmon() || caps.has(system::Cap::ipc_lock);
  if (s.options_.ring_pages != 0) {
    s.ring_pages_ = s.options_.ring_pages;
  } else {
    const auto online = CpuSet::online();
    const long budget =
        caps.mlock_kb > 0 ? caps.mlock_kb * static_cast<long>(online ? online->size() : 1) : 516;
    // A DWARF sample carries its stack copy (16 KiB by default): four times the ring, so that the
    // same time passes between wake-ups.
    const std::size_t scale = s.options_.stack_user_bytes > 0 ? 4 : 1;
    s.ring_pages_ = ring_pages_for(s.options_.cpus.size(), unlimited ? 0 : budget, page,
                                   (unlimited ? 256 : 128) * scale);
  }

  if (auto st = s.open_events(caps); !st) return std::move(st).take_error();
  s.decoder_ = Decoder(s.attr_);
  return s;
}

Status Session::open_events(const system::Capabilities& caps) {
  bool build_ids = true;
  for (int attempt = 0; attempt < 6; ++attempt) {
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
    // perf's clock is CLOCK_MONOTONIC, so sample times compare with the recorder's own.
    a.use_clockid = 1;
    a.clockid = CLOCK_MONOTONIC;
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    a.watermark = 1;
    a.wakeup_watermark = static_cast<std::uint32_t>(ring_pages_ * page / 4);

    fds_.clear();
    ring_fds_.clear();
    ring_cpus_.clear();
    std::vector<pid_t> targets = options_.threads;
    if (targets.empty()) targets.push_back(-1);
    Error failure;
    bool failed = false;
    for (int cpu : options_.cpus) {
      int ring_fd = -1;
      for (std::size_t t = 0; t < targets.size() && !failed; ++t) {
        const pid_t pid = targets[t];
        auto fd = perf_event_open(a, pid, cpu, -1,
                                  fmt::format("{} sampling", options_.event.display_name()));
        if (!fd) {
          // A thread that exited between listing and opening is not an error, unless it was the
          // only target.
          if (fd.error().errnum == ESRCH && targets.size() > 1) continue;
          failure = system::explain_open_failure(fd.error(), a, pid, cpu,
                                                 options_.event.display_name(), caps);
          failed = true;
          break;
        }
        if (ring_fd < 0) {
          ring_fd = fd->get();
          ring_fds_.push_back(ring_fd);
          ring_cpus_.push_back(cpu);
        } else if (auto st = perf_ioctl(fd->get(), PERF_EVENT_IOC_SET_OUTPUT,
                                        static_cast<unsigned long>(ring_fd), "redirect to ring");
                   !st) {
          return st;
        }
        fds_.push_back(std::move(*fd));
      }
      if (failed) break;
    }
    if (!failed) {
      attr_ = a;
      break;
    }
    const int e = failure.errnum;
    if ((e == EACCES || e == EPERM) && !options_.user_only && !options_.threads.empty()) {
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
    return failure;
  }
  if (fds_.empty()) return Error{"open sampling events", ESRCH, "  every target thread has exited"};

  // Map one ring per CPU; an unprivileged user over its mlock budget gets EPERM: halve and retry.
  for (std::size_t i = 0; i < ring_fds_.size(); ++i) {
    for (;;) {
      auto ring = RingBuffer::map(ring_fds_[i], ring_pages_);
      if (ring) {
        rings_.push_back(Ring{ring_cpus_[i], std::move(*ring)});
        break;
      }
      if (ring.error().errnum == EPERM && ring_pages_ > 8 && i == 0) {
        ring_pages_ /= 2;
        continue;
      }
      Error e = ring.error();
      if (e.errnum == EPERM) {
        e.hint = fmt::format(
            "  the ring buffers need more locked memory than this user may use: raise "
            "kernel.perf_event_mlock_kb (now {} KiB) or `ulimit -l`, or sample fewer CPUs (-C)",
            caps.mlock_kb);
      }
      return e;
    }
  }

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno_error("epoll_create1");
  epoll_ = UniqueFd(ep);
  for (std::size_t i = 0; i < ring_fds_.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ring_fds_[i], &ev) != 0) return errno_error("epoll_ctl");
  }
  return {};
}

Status Session::enable() {
  for (const auto& fd : fds_) {
    if (auto st = perf_ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0, "enable sampling"); !st) return st;
  }
  return {};
}

Status Session::disable() {
  for (const auto& fd : fds_) {
    if (auto st = perf_ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0, "disable sampling"); !st)
      return st;
  }
  return {};
}

Status Session::watch(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = kWatchedTag | static_cast<std::uint32_t>(watched_.size());
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl(watch)");
  watched_.push_back(fd);
  return {};
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
  epoll_event events[16];
  const int n = epoll_wait(epoll_.get(), events, 16, timeout_ms);
  if (n < 0 && errno != EINTR) return errno_error("epoll_wait");
  bool woken = false;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u32 & kWatchedTag) woken = true;
  }
  // Drain every ring, not only the ready ones: rings below their watermark still hold records that
  // the others' records may refer to (a process's MMAP2 on one CPU, its samples on another).
  drain(sink);
  return woken;
}

void Session::drain(RecordSink& sink) {
  const std::uint64_t pass_start = monotonic_ns();  // the events' clock (attr.clockid)
  for (auto& ring : rings_) {
    auto drained = ring.buffer.drain([&](std::span<const std::byte> record) {
      ++stats_.records;
      sink.on_record(record);
    });
    if (!drained) {
      ++stats_.ring_errors;
      last_error_ = drained.error().message();
    }
  }
  sink.on_pass_end(pass_start);
}

}  // namespace perfscope::sampling
