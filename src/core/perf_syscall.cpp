#include "core/perf_syscall.hpp"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace perfscope {

Result<UniqueFd> perf_event_open(const perf_event_attr& attr, pid_t pid, int cpu, int group_fd,
                                 const std::string& what, unsigned long extra_flags) {
  const long fd =
      ::syscall(SYS_perf_event_open, &attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC | extra_flags);
  if (fd < 0) {
    const int e = errno;  // building the message below may clobber it
    std::string op = "perf_event_open(" + what;
    if (extra_flags & PERF_FLAG_PID_CGROUP) {
      op += ", cgroup";
    } else if (pid > 0) {
      op += ", pid " + std::to_string(pid);
    } else if (pid == -1) {
      op += ", all processes";
    }
    if (cpu >= 0) op += ", cpu " + std::to_string(cpu);
    op += ")";
    return Error{std::move(op), e, {}};
  }
  return UniqueFd(static_cast<int>(fd));
}

Status perf_ioctl(int fd, unsigned long request, unsigned long arg, const char* what) {
  if (::ioctl(fd, request, arg) < 0) return errno_error(std::string("ioctl ") + what);
  return {};
}

}  // namespace perfscope
