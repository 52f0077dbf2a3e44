#include "counting/counter.hpp"

#include <unistd.h>

#include "core/perf_syscall.hpp"

namespace perfscope::counting {
namespace {
constexpr std::uint64_t kReadFormat =
    PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
}

Result<Counter> Counter::open(const events::EventSpec& spec, const Target& target,
                              const CounterOptions& options) {
  auto opened = open_event(spec, target, options, kReadFormat, -1);
  if (!opened) return opened.error();
  return Counter(std::move(*opened));
}

Result<Reading> Counter::read() const {
  std::uint64_t buf[3];
  const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n != static_cast<ssize_t>(sizeof buf)) {
    if (n >= 0) errno = EIO;
    return errno_error("read counter " + spec_.display_name());
  }
  return Reading{buf[0], buf[1], buf[2]};
}

Status Counter::enable() {
  return perf_ioctl(fd_.get(), PERF_EVENT_IOC_ENABLE, 0, "enable");
}
Status Counter::disable() {
  return perf_ioctl(fd_.get(), PERF_EVENT_IOC_DISABLE, 0, "disable");
}
Status Counter::reset() {
  return perf_ioctl(fd_.get(), PERF_EVENT_IOC_RESET, 0, "reset");
}

}  // namespace perfscope::counting
