// Thin wrappers over the perf_event_open(2) system call and its ioctls. No policy here: fallbacks
// and error wording live in counting/ and system/.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope {

// perf_event_open(attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC | extra_flags). On failure errno
// is preserved in the returned Error; `what` names the event for the Error's op. With
// PERF_FLAG_PID_CGROUP in extra_flags, `pid` is an open cgroup directory fd.
Result<UniqueFd> perf_event_open(const perf_event_attr& attr, pid_t pid, int cpu, int group_fd,
                                 const std::string& what, unsigned long extra_flags = 0);

// ioctl(fd, request, arg) returning an Error naming `what` on failure.
Status perf_ioctl(int fd, unsigned long request, unsigned long arg, const char* what);

}  // namespace perfscope
