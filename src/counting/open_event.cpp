#include "counting/open_event.hpp"

#include <sys/ioctl.h>

#include "core/perf_syscall.hpp"
#include "system/capabilities.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::counting {

bool counts_kernel_activity(const events::EventSpec& spec) {
  if (spec.type == PERF_TYPE_TRACEPOINT) return true;
  return spec.type == PERF_TYPE_SOFTWARE && (spec.config == PERF_COUNT_SW_CONTEXT_SWITCHES ||
                                             spec.config == PERF_COUNT_SW_CPU_MIGRATIONS ||
                                             spec.config == PERF_COUNT_SW_CGROUP_SWITCHES);
}

Result<OpenedEvent> open_event(const events::EventSpec& spec, const Target& target,
                               const CounterOptions& options, std::uint64_t read_format,
                               int group_fd) {
  events::EventSpec opened = spec;
  perf_event_attr attr = opened.attr();
  attr.read_format = read_format;
  // Group members follow their leader's state; only the leader carries these.
  const bool leader = group_fd < 0;
  attr.disabled = leader && (options.start_disabled || options.enable_on_exec);
  attr.enable_on_exec = leader && options.enable_on_exec;
  attr.inherit = options.inherit;

  const bool cgroup = target.cgroup_fd >= 0;
  const pid_t pid = cgroup ? target.cgroup_fd : target.pid;
  const unsigned long flags = cgroup ? PERF_FLAG_PID_CGROUP : 0;
  auto fd = perf_event_open(attr, pid, target.cpu, group_fd, spec.display_name(), flags);
  const bool refused = !fd && (fd.error().errnum == EACCES || fd.error().errnum == EPERM);
  if (refused && options.user_only_fallback && !attr.exclude_kernel && opened.modifiers.empty() &&
      !counts_kernel_activity(spec)) {
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    auto retry = perf_event_open(attr, pid, target.cpu, group_fd, spec.display_name(), flags);
    if (retry) {
      opened.exclude_kernel = true;
      opened.exclude_hv = true;
      opened.modifiers = "u";
      fd = std::move(retry);
    } else if (retry.error().errnum != EACCES && retry.error().errnum != EPERM) {
      // Past the permission check the kernel says what is really wrong (ENOENT: no such PMU).
      fd = std::move(retry);
    }
  }
  if (!fd) {
    // A cgroup event is a CPU-wide one for permission purposes.
    return system::explain_open_failure(fd.error(), attr, cgroup ? -1 : target.pid, target.cpu,
                                        spec.display_name(), system::Capabilities::current());
  }
  OpenedEvent out{std::move(*fd), std::move(opened), 0};
  if (::ioctl(out.fd.get(), PERF_EVENT_IOC_ID, &out.id) < 0) {
    return errno_error("ioctl PERF_EVENT_IOC_ID for " + spec.display_name());
  }
  return out;
}

}  // namespace perfscope::counting
