#include "counting/counter_group.hpp"

#include <unistd.h>

#include "core/perf_syscall.hpp"

namespace perfscope::counting {
namespace {
constexpr std::uint64_t kGroupFormat = PERF_FORMAT_GROUP | PERF_FORMAT_ID |
                                       PERF_FORMAT_TOTAL_TIME_ENABLED |
                                       PERF_FORMAT_TOTAL_TIME_RUNNING;
}

Status decode_group_read(std::span<const std::uint64_t> words, std::span<const std::uint64_t> ids,
                         std::vector<Reading>& out) {
  if (words.size() < 3 || words[0] != ids.size() || words.size() < 3 + 2 * words[0]) {
    return Error{"malformed group read", EIO, {}};
  }
  const std::uint64_t enabled = words[1];
  const std::uint64_t running = words[2];
  out.assign(ids.size(), Reading{0, enabled, running});
  for (std::size_t i = 0; i < words[0]; ++i) {
    const std::uint64_t value = words[3 + 2 * i];
    const std::uint64_t id = words[4 + 2 * i];
    std::size_t slot = i;
    if (slot >= ids.size() || ids[slot] != id) {
      for (slot = 0; slot < ids.size() && ids[slot] != id; ++slot) {
      }
      if (slot == ids.size()) return Error{"group read has an unknown member id", EIO, {}};
    }
    out[slot].value = value;
  }
  return {};
}

Result<CounterGroup> CounterGroup::open(std::span<const events::EventSpec> specs,
                                        const Target& target, const CounterOptions& options) {
  if (specs.empty()) return Error{"an event group needs at least one event", EINVAL, {}};
  CounterGroup group;
  // A member joining a leader that already counts is not scheduled until the group is next
  // scheduled in. A task's group is at its next context switch; a CPU-wide group led by a
  // hrtimer event (cpu-clock, task-clock) never is, and its members would read 0 forever. So a
  // group that should start at once opens its leader disabled and is enabled when it is whole.
  CounterOptions leader_options = options;
  const bool enable_when_whole =
      specs.size() > 1 && !options.start_disabled && !options.enable_on_exec;
  if (enable_when_whole) leader_options.start_disabled = true;
  for (const auto& spec : specs) {
    const bool first = group.fds_.empty();
    const int leader = first ? -1 : group.fds_.front().get();
    auto opened = open_event(spec, target, first ? leader_options : options, kGroupFormat, leader);
    if (!opened) return opened.error();
    group.fds_.push_back(std::move(opened->fd));
    group.specs_.push_back(std::move(opened->spec));
    group.ids_.push_back(opened->id);
  }
  group.buffer_.resize(3 + 2 * specs.size());
  if (enable_when_whole) {
    if (auto st = group.enable(); !st) return st.error();
  }
  return group;
}

Status CounterGroup::read_into(std::vector<Reading>& out) const {
  const std::size_t bytes = buffer_.size() * sizeof(std::uint64_t);
  const ssize_t n = ::read(fds_.front().get(), buffer_.data(), bytes);
  if (n != static_cast<ssize_t>(bytes)) {
    if (n >= 0) errno = EIO;
    return errno_error("read group led by " + specs_.front().display_name());
  }
  return decode_group_read(buffer_, ids_, out);
}

Result<std::vector<Reading>> CounterGroup::read() const {
  std::vector<Reading> out;
  if (auto st = read_into(out); !st) return st.error();
  return out;
}

Status CounterGroup::enable() {
  return perf_ioctl(leader_fd(), PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP, "enable group");
}
Status CounterGroup::disable() {
  return perf_ioctl(leader_fd(), PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP, "disable group");
}
Status CounterGroup::reset() {
  return perf_ioctl(leader_fd(), PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP, "reset group");
}

}  // namespace perfscope::counting
