// How counting/ opens one event: the target, the options, and the fallback perf itself uses.
#pragma once

#include <sys/types.h>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "events/event_spec.hpp"

namespace perfscope::counting {

// Whom an event counts.
struct Target {
  pid_t pid = 0;  // 0: this process; > 0: that thread; -1: every process (needs cpu >= 0)
  int cpu = -1;   // -1: wherever the task runs; >= 0: only on that CPU
  // >= 0: an open cgroup directory (not owned): count the tasks of that cgroup on `cpu` (which
  // must be >= 0); `pid` is ignored.
  int cgroup_fd = -1;
};

struct CounterOptions {
  bool inherit = false;         // also count threads/processes created after opening
  bool enable_on_exec = false;  // start counting when the target calls exec()
  bool start_disabled = false;  // open disabled; call enable()
  // When the kernel refuses kernel-space counting (perf_event_paranoid 2), retry user space only,
  // as perf does, and mark the event ":u".
  bool user_only_fallback = true;
};

// True for events that fire only in kernel context (context switches, migrations, tracepoints):
// counted user-space only they always read 0, so the user-only fallback must not apply to them.
bool counts_kernel_activity(const events::EventSpec& spec);

struct OpenedEvent {
  UniqueFd fd;
  events::EventSpec spec;  // what was really opened (exclude_kernel set by the fallback)
  std::uint64_t id = 0;    // kernel id (PERF_EVENT_IOC_ID)
};

// Opens `spec` for `target` with `read_format`, in the group led by `group_fd` (-1: alone).
// Failures come back explained (system::explain_open_failure).
Result<OpenedEvent> open_event(const events::EventSpec& spec, const Target& target,
                               const CounterOptions& options, std::uint64_t read_format,
                               int group_fd);

}  // namespace perfscope::counting
