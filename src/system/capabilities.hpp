// Capabilities: what this machine and this process may do with perf events, probed once.
//
// It reads procfs/sysfs (paranoid level, capability sets, PMUs, tracefs, BTF, limits) and makes one
// real perf_event_open attempt per access level that matters. doctor, the fallbacks in cli/ and the
// tests' requirement checks all read the same object, so they cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perfscope::system {

// Linux capability numbers (include/uapi/linux/capability.h).
enum class Cap : int {
  ipc_lock = 14,
  sys_ptrace = 19,
  sys_admin = 21,
  syslog = 34,
  perfmon = 38,
  bpf = 39,
};
const char* cap_name(Cap cap);  // "CAP_PERFMON"

struct Pmu {
  std::string name;        // directory name under /sys/bus/event_source/devices
  std::uint32_t type = 0;  // attr.type to use for this PMU
  bool core = false;       // the CPU's own PMU (registered as PERF_TYPE_RAW, or a hybrid cpu_* PMU)
};

// Where to look; tests point these at synthetic trees.
struct ProbePaths {
  std::string proc_sys_kernel = "/proc/sys/kernel";
  std::string event_sources = "/sys/bus/event_source/devices";
  std::string mountinfo = "/proc/self/mountinfo";
  std::string btf = "/sys/kernel/btf/vmlinux";
  std::string status = "/proc/self/status";
  bool open_probes = true;  // make the real perf_event_open attempts
};

struct Capabilities {
  bool perf_events_supported = false;  // /proc/sys/kernel/perf_event_paranoid exists
  int paranoid = 2;
  std::uint64_t effective_caps = 0;
  bool root = false;  // euid 0 (informational: the kernel checks capabilities, not the uid)

  std::vector<Pmu> pmus;
  bool hardware_pmu = false;  // a core PMU exists

  std::string tracefs_path;       // mounted tracefs (preferring /sys/kernel/tracing); empty if none
  bool tracefs_readable = false;  // its events/ directory can be listed by this process

  int kptr_restrict = -1;  // -1 when unreadable
  bool btf = false;
  long max_sample_rate = -1;  // perf_event_max_sample_rate, Hz
  long mlock_kb = -1;         // perf_event_mlock_kb, per user
  int unprivileged_bpf_disabled = -1;
  int nmi_watchdog = -1;

  // errno of real attempts (0 = it opened). -1 = not attempted.
  int open_self_user_errno = -1;    // task-clock, this process, exclude_kernel
  int open_self_kernel_errno = -1;  // task-clock, this process, kernel included
  int open_cpu_wide_errno = -1;     // cpu-clock, all processes on CPU 0
  int open_hardware_errno = -1;     // cycles, this process, exclude_kernel

  bool has(Cap cap) const { return (effective_caps >> static_cast<int>(cap)) & 1U; }
  // CAP_PERFMON, or CAP_SYS_ADMIN which implies it (and is what kernels before 5.8 check).
  bool perfmon() const { return has(Cap::perfmon) || has(Cap::sys_admin); }
  // True when the paranoid level, or a capability that bypasses it, allows `level`.
  bool paranoid_allows(int level) const { return perfmon() || paranoid <= level; }
  const Pmu* find_pmu(const std::string& name) const;

  // The probe for this process, computed on first use and cached (thread-safe).
  static const Capabilities& current();
  static Capabilities probe(const ProbePaths& paths = {});
};

}  // namespace perfscope::system
