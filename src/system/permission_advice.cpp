#include "system/permission_advice.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "core/files.hpp"

namespace perfscope::system {
namespace {

bool hardware_like(std::uint32_t type) {
  return type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE || type == PERF_TYPE_RAW;
}

// The doctor capability (--need key) that covers an access.
const char* doctor_key(Access access) {
  switch (access) {
    case Access::own_process_user:
      return "count-own";
    case Access::own_process_kernel:
      return "profile-own";
    case Access::cpu_wide:
      return "count-system";
    case Access::raw_tracepoint:
      return "syscalls";
    case Access::other_user_process:
      return "count-own";
  }
  return "count-own";
}

}  // namespace

int paranoid_needed(Access access) {
  switch (access) {
    case Access::own_process_user:
      return 2;
    case Access::own_process_kernel:
      return 1;
    case Access::cpu_wide:
      return 0;
    case Access::raw_tracepoint:
      return -1;
    case Access::other_user_process:
      return 2;
  }
  return -1;
}

const char* describe_access(Access access) {
  switch (access) {
    case Access::own_process_user:
      return "counting your own processes (user space)";
    case Access::own_process_kernel:
      return "counting your own processes including kernel space";
    case Access::cpu_wide:
      return "system-wide counting (all processes on a CPU)";
    case Access::raw_tracepoint:
      return "raw tracepoint data";
    case Access::other_user_process:
      return "measuring another user's process";
  }
  return "this operation";
}

Access classify(const perf_event_attr& attr, pid_t pid, int cpu) {
  if (pid == -1 && cpu >= 0) return Access::cpu_wide;
  if (attr.type == PERF_TYPE_TRACEPOINT && (attr.sample_type & PERF_SAMPLE_RAW)) {
    return Access::raw_tracepoint;
  }
  if (pid > 0) {
    const long owner = proc_status_field(pid, "Uid:");
    if (owner >= 0 && owner != static_cast<long>(::getuid())) return Access::other_user_process;
  }
  return attr.exclude_kernel ? Access::own_process_user : Access::own_process_kernel;
}

std::string self_executable_path() {
  std::string path = read_link("/proc/self/exe");
  return path.empty() ? "perfscope" : path;
}

std::string permission_hint(Access access, const Capabilities& caps) {
  if (access == Access::other_user_process) {
    return fmt::format(
        "  the process belongs to another user: run perfscope as that user or as root, or give it\n"
        "  CAP_PERFMON (least privilege: sudo setcap cap_perfmon,cap_bpf,cap_syslog=ep {})\n"
        "  more:             perfscope doctor --need count-own",
        self_executable_path());
  }
  const int needed = paranoid_needed(access);
  std::string out;
  if (caps.paranoid_allows(needed)) {
    out = fmt::format(
        "  perf_event_paranoid is {} and allows this, so something else refused it: a container's "
        "seccomp profile, an LSM (SELinux, AppArmor) or a kernel patched to block perf "
        "(Debian/Ubuntu at levels 3 and above without CAP_PERFMON)\n",
        caps.paranoid);
  } else {
    out = fmt::format(
        "  perf_event_paranoid is {}; {} needs {} or less, or CAP_PERFMON\n"
        "  fix now:          sudo sysctl -w kernel.perf_event_paranoid={}\n"
        "  fix persistently: echo 'kernel.perf_event_paranoid = {}' | sudo tee "
        "/etc/sysctl.d/99-perfscope.conf && sudo sysctl --system\n",
        caps.paranoid, describe_access(access), needed, needed, needed);
  }
  out += fmt::format(
      "  least privilege:  sudo setcap cap_perfmon,cap_bpf,cap_syslog=ep {}\n"
      "  more:             perfscope doctor --need {}",
      self_executable_path(), doctor_key(access));
  return out;
}

std::string no_hardware_pmu_hint() {
  return "  no hardware PMU was found on this machine (usually a virtual machine without "
         "PMU "
         "passthrough), "
         "so hardware and cache events do not exist here\n"
         "  use software events instead: cpu-clock, task-clock, page-faults, context-switches "
         "(perfscope list shows what works)";
}

std::string paranoid_levels_explained() {
  return "  -1  everything, including raw tracepoint data, for every user\n"
         "   0  system-wide (per-CPU) measurement for every user; no raw tracepoint data\n"
         "   1  your own processes, user and kernel space; no system-wide measurement\n"
         "   2  your own processes, user space only (the upstream default)\n"
         "  3/4 Debian and Ubuntu kernels: no perf_event_open at all without CAP_PERFMON\n"
         "  Lower levels let local users observe more of the system (timing side channels, kernel "
         "addresses): lower it on development machines, prefer setcap on shared ones.";
}

Error explain_open_failure(const Error& failure, const perf_event_attr& attr, pid_t pid, int cpu,
                           const std::string& event_name, const Capabilities& caps) {
  Error e = failure;
  switch (failure.errnum) {
    case EACCES:
    case EPERM:
      e.op =
          fmt::format("{} refused for {}", describe_access(classify(attr, pid, cpu)), event_name);
      e.hint = permission_hint(classify(attr, pid, cpu), caps);
      break;
    case ENOENT:
    case EOPNOTSUPP:
      if (hardware_like(attr.type) && !caps.hardware_pmu) {
        e.op = fmt::format("event {} is not supported here", event_name);
        e.hint = no_hardware_pmu_hint();
      } else if (attr.type == PERF_TYPE_TRACEPOINT) {
        e.op = fmt::format("tracepoint {} could not be opened", event_name);
        e.hint =
            "  the tracepoint id is not valid on this kernel: check `perfscope list tracepoint`";
      } else {
        e.op = fmt::format("event {} is not supported by this kernel or CPU", event_name);
        e.hint = "  `perfscope list` shows the events this machine supports";
      }
      break;
    case ESRCH:
      e.op = fmt::format("no process with pid {}", pid);
      e.hint = "  check the pid with `ps -p PID`; the process may have exited";
      break;
    case EMFILE:
    case ENFILE:
      e.hint =
          "  too many open files: raise the limit (ulimit -n 65536) or count fewer events or CPUs";
      break;
    case ENODEV:
      e.hint =
          fmt::format("  the PMU behind {} does not cover CPU {} (hybrid CPU?)", event_name, cpu);
      break;
    default:
      break;
  }
  return e;
}

}  // namespace perfscope::system
