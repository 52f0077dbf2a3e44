#include "system/capabilities.hpp"

#include <linux/perf_event.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "core/files.hpp"
#include "core/perf_syscall.hpp"

namespace perfscope::system {
namespace {

int read_int_or(const std::string& path, int fallback) {
  auto v = read_int_file(path);
  return v ? static_cast<int>(*v) : fallback;
}

std::uint64_t parse_cap_eff(const std::string& status) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

// Mount points of tracefs from mountinfo (field 5 is the mount point, the fs type follows " - ").
std::vector<std::string> tracefs_mounts(const std::string& mountinfo) {
  std::vector<std::string> out;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    const auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "tracefs") continue;
    std::istringstream head(line.substr(0, sep));
    std::string field, mount_point;
    for (int i = 0; i < 5 && head >> field; ++i) mount_point = field;
    out.push_back(mount_point);
  }
  return out;
}

int try_open(std::uint32_t type, std::uint64_t config, bool exclude_kernel, pid_t pid, int cpu) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  attr.disabled = 1;
  attr.exclude_kernel = exclude_kernel;
  attr.exclude_hv = 1;
  auto fd = perfscope::perf_event_open(attr, pid, cpu, -1, "probe");
  return fd ? 0 : fd.error().errnum;
}

}  // namespace

const char* cap_name(Cap cap) {
  switch (cap) {
    case Cap::ipc_lock:
      return "CAP_IPC_LOCK";
    case Cap::sys_ptrace:
      return "CAP_SYS_PTRACE";
    case Cap::sys_admin:
      return "CAP_SYS_ADMIN";
    case Cap::syslog:
      return "CAP_SYSLOG";
    case Cap::perfmon:
      return "CAP_PERFMON";
    case Cap::bpf:
      return "CAP_BPF";
  }
  return "CAP_?";
}

const Pmu* Capabilities::find_pmu(const std::string& name) const {
  for (const auto& p : pmus) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Capabilities Capabilities::probe(const ProbePaths& paths) {
  Capabilities c;
  const std::string k = paths.proc_sys_kernel + "/";
  auto paranoid = read_int_file(k + "perf_event_paranoid");
  c.perf_events_supported = paranoid.has_value();
  if (paranoid) c.paranoid = static_cast<int>(*paranoid);
  c.kptr_restrict = read_int_or(k + "kptr_restrict", -1);
  c.max_sample_rate = read_int_or(k + "perf_event_max_sample_rate", -1);
  c.mlock_kb = read_int_or(k + "perf_event_mlock_kb", -1);
  c.unprivileged_bpf_disabled = read_int_or(k + "unprivileged_bpf_disabled", -1);
  c.nmi_watchdog = read_int_or(k + "nmi_watchdog", -1);
  c.root = ::geteuid() == 0;

  if (auto status = read_text_file(paths.status)) c.effective_caps = parse_cap_eff(*status);

  if (auto names = list_directory(paths.event_sources)) {
    for (const auto& name : *names) {
      auto type = read_int_file(paths.event_sources + "/" + name + "/type");
      if (!type) continue;
      Pmu pmu{name, static_cast<std::uint32_t>(*type), false};
      // The core PMU registers as PERF_TYPE_RAW; hybrid parts add cpu_core/cpu_atom.
      pmu.core = pmu.type == PERF_TYPE_RAW || name == "cpu_core" || name == "cpu_atom";
      c.hardware_pmu = c.hardware_pmu || pmu.core;
      c.pmus.push_back(std::move(pmu));
    }
  }

  if (auto info = read_text_file(paths.mountinfo)) {
    auto mounts = tracefs_mounts(*info);
    for (const char* preferred : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
      for (const auto& m : mounts) {
        if (c.tracefs_path.empty() && m == preferred) c.tracefs_path = m;
      }
    }
    if (c.tracefs_path.empty() && !mounts.empty()) c.tracefs_path = mounts.front();
  }
  if (!c.tracefs_path.empty()) {
    c.tracefs_readable = ::access((c.tracefs_path + "/events").c_str(), R_OK | X_OK) == 0;
  }
  c.btf = path_exists(paths.btf);

  if (paths.open_probes && c.perf_events_supported) {
    c.open_self_user_errno = try_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, true, 0, -1);
    c.open_self_kernel_errno = try_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, false, 0, -1);
    c.open_cpu_wide_errno = try_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, false, -1, 0);
    c.open_hardware_errno = try_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, true, 0, -1);
  }
  return c;
}

const Capabilities& Capabilities::current() {
  static const Capabilities probed = probe();
  return probed;
}

}  // namespace perfscope::system
