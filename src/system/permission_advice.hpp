// The one source of text for "the kernel refused a perf event: here is why and how to fix it".
// Every command that gets EACCES/EPERM/ENOENT from perf_event_open attaches these hints, and
// `perfscope doctor` prints the same lines.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <string>

#include "core/error.hpp"
#include "system/capabilities.hpp"

namespace perfscope::system {

// What a perf_event_open asked for, ordered from least to most privileged.
enum class Access {
  own_process_user,    // this process or its children, user space only
  own_process_kernel,  // ... including kernel space
  cpu_wide,            // every process on a CPU (system-wide, -a, -C)
  raw_tracepoint,      // tracepoint raw sample data
  other_user_process,  // a process owned by another user
};

// The highest perf_event_paranoid value at which an unprivileged user gets `access`.
int paranoid_needed(Access access);
// "counting system-wide (all processes)" and the like.
const char* describe_access(Access access);
// What an attr/pid/cpu triple asks for.
Access classify(const perf_event_attr& attr, pid_t pid, int cpu);

// The fix lines for a refused `access`, given what the machine allows now.
std::string permission_hint(Access access, const Capabilities& caps);
// For ENOENT/EOPNOTSUPP on a hardware, cache or raw event.
std::string no_hardware_pmu_hint();
// One line per paranoid level, -1..4, for doctor and --help texts.
std::string paranoid_levels_explained();
// The absolute path of the running binary, for `setcap ... PATH`.
std::string self_executable_path();

// Turns a failed perf_event_open (with its errno) into an Error whose op names the event and whose
// hint says what to do. `event_name` is the user's spelling ("cycles:u").
Error explain_open_failure(const Error& failure, const perf_event_attr& attr, pid_t pid, int cpu,
                           const std::string& event_name, const Capabilities& caps);

}  // namespace perfscope::system
