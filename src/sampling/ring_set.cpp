#include "sampling/ring_set.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ctime>

#include "core/clock.hpp"
#include "core/perf_syscall.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::sampling {
namespace {

// epoll data of a watched descriptor; a ring's is its index.
constexpr std::uint64_t kWatchedTag = std::uint64_t{1} << 63;

std::size_t page_size() {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

constexpr const char* kOverBudgetOp = "mmap perf ring buffer (over the locked-memory budget)";

// An event whose task has exited (and whose inherited copies are gone) polls HUP for good.
bool hung_up(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

}  // namespace

std::size_t default_ring_pages(std::size_t rings, const system::Capabilities& caps,
                               std::size_t max_pages, std::size_t max_pages_limited) {
  if (caps.perfmon() || caps.has(system::Cap::ipc_lock)) {
    return ring_pages_for(rings, 0, page_size(), max_pages);
  }
  // The kernel lets an unprivileged user lock perf_event_mlock_kb per online CPU for its rings.
  const auto online = CpuSet::online();
  const long budget =
      caps.mlock_kb > 0 ? caps.mlock_kb * static_cast<long>(online ? online->size() : 1) : 516;
  return ring_pages_for(rings, budget, page_size(), max_pages_limited);
}

bool over_mlock_budget(const Error& error) {
  return error.errnum == EPERM && error.op == kOverBudgetOp;
}

Result<RingSet> RingSet::open(RingSetOptions options, const system::Capabilities& caps) {
  if (options.events.empty()) return Error{"open perf rings: no events given", EINVAL, ""};
  if (options.cpus.empty()) {
    auto online = CpuSet::online();
    if (!online) return std::move(online).take_error();
    options.cpus = *online;
  }
  RingSet set;
  set.options_ = std::move(options);
  for (;;) {
    bool over_budget = false;
    auto st = set.open_all(caps, over_budget);
    if (st) return set;
    if (!over_budget || set.options_.ring_pages <= 8) return std::move(st).take_error();
    set.options_.ring_pages /= 2;  // every ring, and the watermarks with them
  }
}

Status RingSet::open_all(const system::Capabilities& caps, bool& over_budget) {
  rings_.clear();
  fds_.clear();
  vanished_.clear();
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno_error("epoll_create1");
  epoll_ = UniqueFd(ep);

  const std::size_t ring_bytes = options_.ring_pages * page_size();
  for (auto& event : options_.events) {
    event.attr.watermark = 1;
    event.attr.wakeup_watermark = static_cast<std::uint32_t>(ring_bytes / 4);
    event.attr.use_clockid = 1;
    event.attr.clockid = CLOCK_MONOTONIC;
  }
  std::vector<pid_t> targets = options_.targets;
  if (targets.empty()) targets.push_back(-1);
  std::vector<bool> gone(targets.size(), false);
  Error first_gone;

  for (int cpu : options_.cpus) {
    const std::size_t cpu_first = fds_.size();
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (gone[t]) continue;
      const std::size_t target_first = fds_.size();
      for (const auto& event : options_.events) {
        auto fd = perf_event_open(event.attr, targets[t], cpu, -1, event.name);
        if (fd) {
          fds_.push_back(std::move(*fd));
          continue;
        }
        Error e =
            system::explain_open_failure(fd.error(), event.attr, targets[t], cpu, event.name, caps);
        if (e.errnum != ESRCH || targets[t] < 0) return e;
        // The thread exited after it was listed: not an error unless every target did.
        if (vanished_.empty()) first_gone = e;
        gone[t] = true;
        vanished_.push_back(targets[t]);
        fds_.resize(target_first);
        break;
      }
    }
    if (fds_.size() == cpu_first) continue;

    // The first event opened on this CPU owns its ring: map it, then redirect the others into it.
    Ring ring;
    ring.cpu = cpu;
    auto buffer = RingBuffer::map(fds_[cpu_first].get(), options_.ring_pages);
    if (!buffer) {
      Error e = buffer.error();
      if (e.errnum == EPERM) {
        over_budget = true;
        e.op = kOverBudgetOp;
        e.hint = fmt::format(
            "  the ring buffers need more locked memory than this user may use: raise "
            "kernel.perf_event_mlock_kb (now {} KiB) or `ulimit -l`, or sample fewer CPUs (-C)",
            caps.mlock_kb);
      }
      return e;
    }
    ring.buffer = std::move(*buffer);
    for (std::size_t i = cpu_first; i < fds_.size(); ++i) {
      ring.fds.push_back(fds_[i].get());
      if (i == cpu_first) continue;
      if (auto st = perf_ioctl(fds_[i].get(), PERF_EVENT_IOC_SET_OUTPUT,
                               static_cast<unsigned long>(fds_[cpu_first].get()),
                               "redirect an event into its CPU's ring");
          !st) {
        return st;
      }
    }
    rings_.push_back(std::move(ring));
    if (auto st = watch_next(rings_.size() - 1); !st) return st;
  }
  if (!vanished_.empty() && vanished_.size() == targets.size()) {
    first_gone.hint += "\n  every target thread has exited";
    return first_gone;
  }
  return {};
}

// Puts the ring's first event from `watched` on that has not hung up into the epoll set.
Status RingSet::watch_next(std::size_t index) {
  Ring& ring = rings_[index];
  while (ring.watched < ring.fds.size() && hung_up(ring.fds[ring.watched])) {
    ++ring.watched;
    ++stats_.hangups;
  }
  if (ring.watched == ring.fds.size()) return {};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = index;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, ring.fds[ring.watched], &ev) != 0) {
    return errno_error("epoll_ctl(add ring)");
  }
  return {};
}

Status RingSet::ioctl_all(unsigned long request, const char* what) {
  Status result;
  for (const auto& fd : fds_) {
    auto st = perf_ioctl(fd.get(), request, 0, what);
    if (!st && result) result = std::move(st);
  }
  return result;
}

Status RingSet::enable() {
  return ioctl_all(PERF_EVENT_IOC_ENABLE, "enable perf event");
}

Status RingSet::disable() {
  return ioctl_all(PERF_EVENT_IOC_DISABLE, "disable perf event");
}

Status RingSet::watch(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWatchedTag | watched_.size();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl(watch)");
  watched_.push_back(fd);
  return {};
}

Status RingSet::unwatch(int fd) {
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != ENOENT) {
    return errno_error("epoll_ctl(unwatch)");
  }
  return {};
}

Result<bool> RingSet::wait(int timeout_ms) {
  epoll_event events[32];
  const int n = epoll_wait(epoll_.get(), events, 32, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return false;
    return errno_error("epoll_wait");
  }
  bool woken = false;
  for (int i = 0; i < n; ++i) {
    if ((events[i].data.u64 & kWatchedTag) != 0) {
      woken = true;
      // Hung up for good (the pidfd of a process that is gone and reaped): reported this once,
      // then dropped, or every later wait would return at once.
      if ((events[i].events & (EPOLLHUP | EPOLLERR)) != 0) {
        const int fd = watched_[static_cast<std::size_t>(events[i].data.u64 & ~kWatchedTag)];
        (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      }
      continue;
    }
    if ((events[i].events & (EPOLLHUP | EPOLLERR)) == 0) continue;
    // The watched event's task is gone. Other events may still write into this ring: watch the
    // next one, or none (drain() reads the ring on every pass all the same).
    const auto index = static_cast<std::size_t>(events[i].data.u64);
    Ring& ring = rings_[index];
    ++stats_.hangups;
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, ring.fds[ring.watched], nullptr);
    ++ring.watched;
    if (auto st = watch_next(index); !st) return st.error();
  }
  return woken;
}

void RingSet::drain(RecordSink& sink) {
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

std::size_t RingSet::rings_watched() const {
  std::size_t n = 0;
  for (const auto& ring : rings_) n += ring.watched < ring.fds.size() ? 1 : 0;
  return n;
}

}  // namespace perfscope::sampling
