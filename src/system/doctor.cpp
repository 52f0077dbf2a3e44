#include "system/doctor.hpp"

#include <fmt/format.h>
#include <cstring>

#include "system/permission_advice.hpp"

namespace perfscope::system {
namespace {

// Data pages per CPU a system-wide recording maps by default, plus the control page (KiB).
constexpr long kRecordBufferKb = (128 + 1) * 4;
// Events per CPU the widest perfscope recording opens (sampling + side-band + counters).
constexpr long kEventsPerCpu = 4;

std::string tried(const ProbeResult& p) {
  if (!p.tried) return p.detail;
  if (p.errnum == 0) return p.detail + ": opened";
  return fmt::format("{}: {}", p.detail, std::strerror(p.errnum));
}

bool refused(const ProbeResult& p) {
  return p.tried && (p.errnum == EACCES || p.errnum == EPERM);
}

std::string fix_for(const ProbeResult& p, Access access, const Capabilities& caps, int seccomp) {
  if (refused(p) && seccomp == 2 && caps.paranoid_allows(paranoid_needed(access))) {
    return "  a seccomp filter blocks perf_event_open: run the container with "
           "--security-opt seccomp=unconfined (Docker) or allow perf_event_open in its profile, "
           "and add --cap-add PERFMON";
  }
  if (refused(p)) return permission_hint(access, caps);
  return {};
}

std::string tracefs_fix(const Capabilities& caps) {
  if (caps.tracefs_path.empty()) return "  sudo mount -t tracefs nodev /sys/kernel/tracing";
  return fmt::format(
      "  tracefs at {} is readable by root only: run as root, or sudo mount -o remount,mode=755 {}",
      caps.tracefs_path, caps.tracefs_path);
}

// /proc/kallsyms shows addresses at kptr_restrict 0 only to perf-capable readers
// (perf_event_paranoid <= 1) or CAP_SYSLOG; at 1 only to CAP_SYSLOG; at 2 to nobody.
std::string kallsyms_text(const Capabilities& caps, bool visible) {
  if (visible) return fmt::format("kptr_restrict={}: kernel addresses visible", caps.kptr_restrict);
  switch (caps.kptr_restrict) {
    case 0:
      return "kernel addresses in /proc/kallsyms hidden (kptr_restrict=0 shows them only at "
             "perf_event_paranoid <= 1 or with CAP_SYSLOG)";
    case 1:
      return "kernel addresses in /proc/kallsyms hidden (kptr_restrict=1: CAP_SYSLOG only)";
    default:
      return fmt::format("kernel addresses in /proc/kallsyms hidden (kptr_restrict={})",
                         caps.kptr_restrict);
  }
}

std::string kallsyms_fix(const Capabilities& caps) {
  std::string fix;
  if (caps.kptr_restrict >= 2) fix += "  fix now:          sudo sysctl -w kernel.kptr_restrict=1\n";
  if (caps.kptr_restrict == 0 && caps.paranoid > 1) {
    fix += "  fix now:          sudo sysctl -w kernel.perf_event_paranoid=1\n";
  }
  return fix + fmt::format("  least privilege:  sudo setcap cap_perfmon,cap_bpf,cap_syslog=ep {}",
                           self_executable_path());
}

Verdict count_own(const Capabilities& caps, const ProbeResults& p) {
  Verdict v{Feature::count_own, p.count_own_user.ok(), tried(p.count_own_user), {}};
  if (v.ok && !p.count_own_kernel.ok()) v.why += " (user space only: events show as :u)";
  if (!v.ok) v.fix = fix_for(p.count_own_user, Access::own_process_user, caps, p.seccomp_mode);
  return v;
}

Verdict count_system(const Capabilities& caps, const ProbeResults& p) {
  Verdict v{Feature::count_system, p.count_system_wide.ok(), tried(p.count_system_wide), {}};
  if (!v.ok) v.fix = fix_for(p.count_system_wide, Access::cpu_wide, caps, p.seccomp_mode);
  return v;
}

Verdict profile_own(const Capabilities& caps, const ProbeResults& p) {
  Verdict v{Feature::profile_own, p.sample_own_user.ok(), tried(p.sample_own_user), {}};
  if (v.ok && !p.sample_own_kernel.ok()) {
    v.why += "; kernel frames refused (user-space stacks only)";
    v.fix = permission_hint(Access::own_process_kernel, caps);
  }
  if (!v.ok) v.fix = fix_for(p.sample_own_user, Access::own_process_user, caps, p.seccomp_mode);
  return v;
}

Verdict profile_system(const Capabilities& caps, const ProbeResults& p) {
  Verdict v{Feature::profile_system,
            p.sample_system_wide.ok() && p.kallsyms_addresses,
            tried(p.sample_system_wide),
            {}};
  if (!p.sample_system_wide.ok()) {
    v.fix = fix_for(p.sample_system_wide, Access::cpu_wide, caps, p.seccomp_mode);
  } else if (!p.kallsyms_addresses) {
    v.why += "; " + kallsyms_text(caps, false) + ", so kernel frames cannot be named";
    v.fix = kallsyms_fix(caps);
  }
  return v;
}

Verdict ebpf_profile(const Capabilities& caps, const ProbeResults& p) {
  const bool loaded = p.bpf_perf_program.ok() && p.bpf_stack_map.ok();
  Verdict v{Feature::ebpf_profile,
            loaded && caps.btf && p.sample_system_wide.ok(),
            tried(p.bpf_perf_program.ok() ? p.bpf_stack_map : p.bpf_perf_program),
            {}};
  if (!loaded) {
    const ProbeResult& failed = p.bpf_perf_program.ok() ? p.bpf_stack_map : p.bpf_perf_program;
    if (failed.errnum == EPERM || failed.errnum == EACCES) {
      v.why += fmt::format(" (unprivileged_bpf_disabled={}: bpf() needs CAP_BPF)",
                           caps.unprivileged_bpf_disabled);
    }
    v.fix = fmt::format(
        "  least privilege:  sudo setcap cap_perfmon,cap_bpf,cap_syslog=ep {}\n"
        "  or run as root; perfscope record falls back to the perf ring-buffer backend",
        self_executable_path());
  } else if (!caps.btf) {
    v.why = "bpf() works but the kernel has no BTF (/sys/kernel/btf/vmlinux)";
    v.fix = "  use a kernel built with CONFIG_DEBUG_INFO_BTF=y; the perf backend works meanwhile";
  } else if (!p.sample_system_wide.ok()) {
    v.why = "bpf() works but attaching to system-wide perf events is refused";
    v.fix = fix_for(p.sample_system_wide, Access::cpu_wide, caps, p.seccomp_mode);
  }
  return v;
}

// perfscope syscalls: eBPF on the raw_syscalls raw tracepoints (bpf() allowed, kernel BTF), else
// perf tracepoint events, whose raw data (syscall number, return value) needs CAP_PERFMON or
// perf_event_paranoid -1 besides readable tracefs.
Verdict syscall_summary(const Capabilities& caps, const ProbeResults& p) {
  const bool ebpf = p.bpf_perf_program.ok() && caps.btf;
  const bool raw_data = caps.perfmon() || caps.paranoid <= -1;
  Verdict v{Feature::syscall_summary, ebpf || (p.tracepoint.ok() && raw_data), {}, {}};
  if (ebpf) {
    v.why = "eBPF on the raw_syscalls tracepoints: " + tried(p.bpf_perf_program);
    return v;
  }
  if (v.ok) {
    v.why = "perf tracepoint events (eBPF cannot load): " + tried(p.tracepoint);
    return v;
  }
  if (!p.tracepoint.tried) {
    v.why = tried(p.tracepoint);
    v.fix = tracefs_fix(caps);
  } else if (!p.tracepoint.ok()) {
    v.why = tried(p.tracepoint);
    v.fix = fix_for(p.tracepoint, Access::own_process_kernel, caps, p.seccomp_mode);
  } else {
    v.why = fmt::format(
        "eBPF cannot load ({}), and tracepoint events open but their raw data (the syscall number "
        "and return value) needs CAP_PERFMON or perf_event_paranoid -1",
        tried(p.bpf_perf_program));
    v.fix = permission_hint(Access::raw_tracepoint, caps);
  }
  if (!v.fix.empty()) v.fix += "\n";
  v.fix += fmt::format(
      "  least privilege (eBPF, no tracefs needed):  sudo setcap cap_perfmon,cap_bpf=ep {}",
      self_executable_path());
  return v;
}

Verdict heap_profile() {
  return {Feature::heap_profile,
          true,
          "LD_PRELOAD interposition needs no kernel privilege (not for setuid programs)",
          {}};
}

Verdict hardware_counters(const Capabilities& caps, const ProbeResults& p) {
  Verdict v{Feature::hardware_counters, p.hardware_counter.ok(), tried(p.hardware_counter), {}};
  if (v.ok) return v;
  if (!caps.hardware_pmu) {
    v.why =
        "no hardware PMU: this is a virtual machine without PMU passthrough, software events only";
    v.fix =
        "  nothing to change inside this machine; on the host, expose the PMU (QEMU/KVM: -cpu host,"
        "pmu=on; cloud: an instance type with PMU access)\n"
        "  meanwhile: cpu-clock, task-clock, page-faults, context-switches work";
  } else {
    v.fix = fix_for(p.hardware_counter, Access::own_process_user, caps, p.seccomp_mode);
  }
  return v;
}

void add_findings(Diagnosis& d, const Capabilities& caps, const ProbeResults& p, int cpus) {
  auto add = [&](std::string topic, bool ok, std::string text, std::string fix = {}) {
    d.findings.push_back({std::move(topic), ok, std::move(text), std::move(fix)});
  };
  add("perf_event_paranoid", true,
      fmt::format(
          "{}{}", caps.paranoid,
          caps.perfmon() ? " (bypassed: this process has CAP_PERFMON or CAP_SYS_ADMIN)" : ""));
  add("capabilities", true,
      fmt::format("CAP_PERFMON {}, CAP_SYS_ADMIN {}, CAP_BPF {}, CAP_SYSLOG {}",
                  caps.has(Cap::perfmon) ? "yes" : "no", caps.has(Cap::sys_admin) ? "yes" : "no",
                  caps.has(Cap::bpf) ? "yes" : "no", caps.has(Cap::syslog) ? "yes" : "no"));
  if (caps.tracefs_path.empty()) {
    add("tracefs", false, "not mounted (at /sys/kernel/tracing or /sys/kernel/debug/tracing)",
        tracefs_fix(caps));
  } else {
    add("tracefs", caps.tracefs_readable,
        fmt::format("mounted at {}{}", caps.tracefs_path,
                    caps.tracefs_readable ? ", readable" : ", not readable by this user"),
        caps.tracefs_readable ? "" : tracefs_fix(caps));
  }
  add("another user's process", p.count_other_user.ok() || !p.count_other_user.tried,
      tried(p.count_other_user),
      fmt::format("  run perfscope as that user or as root, or give it CAP_PERFMON: sudo setcap "
                  "cap_perfmon,cap_bpf,cap_syslog=ep {}",
                  self_executable_path()));
  add("uprobes", p.uprobe.ok(), tried(p.uprobe),
      p.uprobe.tried && refused(p.uprobe)
          ? fmt::format("  uprobe events need CAP_PERFMON: sudo setcap "
                        "cap_perfmon,cap_bpf,cap_syslog=ep {}",
                        self_executable_path())
          : "");
  add("kallsyms", p.kallsyms_addresses, kallsyms_text(caps, p.kallsyms_addresses),
      kallsyms_fix(caps));
  add("BTF", caps.btf, caps.btf ? "/sys/kernel/btf/vmlinux present" : "no /sys/kernel/btf/vmlinux");
  add("hardware PMU", caps.hardware_pmu,
      caps.hardware_pmu ? "present" : "none (virtualized): software events only");
  add("perf_event_max_sample_rate", caps.max_sample_rate < 0 || caps.max_sample_rate >= 99,
      fmt::format("{} Hz (perfscope samples at 99 Hz by default)", caps.max_sample_rate),
      "  sudo sysctl -w kernel.perf_event_max_sample_rate=1000");
  // Beyond perf_event_mlock_kb, ring buffers are charged to RLIMIT_MEMLOCK unless the process has
  // CAP_IPC_LOCK or the paranoid level is -1.
  const bool mlock_ok = caps.mlock_kb < 0 || caps.has(Cap::ipc_lock) || caps.paranoid == -1 ||
                        caps.mlock_kb >= kRecordBufferKb;
  add("perf_event_mlock_kb", mlock_ok,
      fmt::format("{} KiB per CPU; a recording maps {} KiB per CPU ({} KiB for {} CPUs)",
                  caps.mlock_kb, kRecordBufferKb, kRecordBufferKb * cpus, cpus),
      fmt::format("  sudo sysctl -w kernel.perf_event_mlock_kb={}", kRecordBufferKb));
  const long need_fds = kEventsPerCpu * cpus + 64;
  add("open files", p.open_files_limit < 0 || p.open_files_limit >= need_fds,
      fmt::format("limit {}; a system-wide recording needs about {}", p.open_files_limit, need_fds),
      fmt::format("  ulimit -n {}", need_fds * 2));
  if (!p.container_markers.empty() || p.seccomp_mode != 0) {
    std::string markers;
    for (const auto& m : p.container_markers) markers += (markers.empty() ? "" : ", ") + m;
    add("container", true,
        fmt::format("{}{}{}seccomp mode {}", markers.empty() ? "" : "markers: ", markers,
                    markers.empty() ? "" : "; ", p.seccomp_mode));
  }
  if (caps.hardware_pmu && caps.nmi_watchdog == 1) {
    add("NMI watchdog", false, "enabled: it holds one hardware counter, so groups multiplex sooner",
        "  sudo sysctl -w kernel.nmi_watchdog=0");
  }
}

}  // namespace

const char* feature_key(Feature f) {
  switch (f) {
    case Feature::count_own:
      return "count-own";
    case Feature::count_system:
      return "count-system";
    case Feature::profile_own:
      return "profile-own";
    case Feature::profile_system:
      return "profile-system";
    case Feature::ebpf_profile:
      return "ebpf";
    case Feature::syscall_summary:
      return "syscalls";
    case Feature::heap_profile:
      return "heap";
    case Feature::hardware_counters:
      return "hardware";
  }
  return "?";
}

const char* feature_title(Feature f) {
  switch (f) {
    case Feature::count_own:
      return "counting own processes";
    case Feature::count_system:
      return "counting system-wide";
    case Feature::profile_own:
      return "CPU profiling, own processes";
    case Feature::profile_system:
      return "CPU profiling system-wide, kernel stacks";
    case Feature::ebpf_profile:
      return "eBPF profiling";
    case Feature::syscall_summary:
      return "syscall summary";
    case Feature::heap_profile:
      return "heap profiling";
    case Feature::hardware_counters:
      return "hardware counters";
  }
  return "?";
}

Diagnosis diagnose(const Capabilities& caps, const ProbeResults& p, int online_cpus) {
  Diagnosis d;
  d.verdicts = {count_own(caps, p),      count_system(caps, p),     profile_own(caps, p),
                profile_system(caps, p), ebpf_profile(caps, p),     syscall_summary(caps, p),
                heap_profile(),          hardware_counters(caps, p)};
  add_findings(d, caps, p, online_cpus);
  return d;
}

}  // namespace perfscope::system
