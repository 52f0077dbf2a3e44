// doctor's verdicts over synthetic machines: (paranoid, capabilities, PMUs, tracefs, probe
// results).
#include <gtest/gtest.h>

#include "system/doctor.hpp"

namespace perfscope::system {
namespace {

constexpr std::uint64_t kCapPerfmon = 1ULL << static_cast<int>(Cap::perfmon);

ProbeResult opened() {
  return {true, 0, "probe"};
}
ProbeResult denied(int e = EACCES) {
  return {true, e, "probe"};
}

// A machine where every probe worked, to be spoiled by each case.
struct Machine {
  Capabilities caps;
  ProbeResults probes;
  Machine() {
    caps.perf_events_supported = true;
    caps.paranoid = -1;
    caps.tracefs_path = "/sys/kernel/tracing";
    caps.tracefs_readable = true;
    caps.btf = true;
    caps.hardware_pmu = true;
    caps.kptr_restrict = 0;
    caps.mlock_kb = 516;
    caps.max_sample_rate = 100000;
    for (ProbeResult* p :
         {&probes.count_own_user, &probes.count_own_kernel, &probes.sample_own_user,
          &probes.sample_own_kernel, &probes.count_other_user, &probes.count_system_wide,
          &probes.sample_system_wide, &probes.tracepoint, &probes.uprobe, &probes.bpf_perf_program,
          &probes.bpf_stack_map, &probes.hardware_counter}) {
      *p = opened();
    }
    probes.kallsyms_addresses = true;
    probes.open_files_limit = 1024;
  }
  // Paranoid level `level` for an unprivileged user on a vanilla kernel: what the probes would see.
  void unprivileged_at(int level) {
    caps.paranoid = level;
    caps.effective_caps = 0;
    caps.unprivileged_bpf_disabled = 2;
    probes.bpf_perf_program = denied(EPERM);
    probes.bpf_stack_map = denied(EPERM);
    probes.count_own_kernel = level <= 1 ? opened() : denied();
    probes.sample_own_kernel = level <= 1 ? opened() : denied();
    probes.count_system_wide = level <= 0 ? opened() : denied();
    probes.sample_system_wide = level <= 0 ? opened() : denied();
    probes.kallsyms_addresses = level <= 1;
  }
  Verdict verdict(Feature f) const {
    for (const auto& v : diagnose(caps, probes, 2).verdicts) {
      if (v.feature == f) return v;
    }
    return {};
  }
};

TEST(DoctorVerdict, EverythingWorksWhenEveryProbeOpened) {
  Machine m;
  const auto d = diagnose(m.caps, m.probes, 2);
  ASSERT_EQ(d.verdicts.size(), 8u);
  for (const auto& v : d.verdicts) {
    EXPECT_TRUE(v.ok) << feature_title(v.feature) << ": " << v.why;
    EXPECT_TRUE(v.fix.empty()) << feature_title(v.feature);
  }
}

TEST(DoctorVerdict, ParanoidLevelsForAnUnprivilegedUser) {
  struct Row {
    int level;
    bool count_system, profile_system, kernel_frames;
  };
  for (const Row r : {Row{-1, true, true, true}, Row{0, true, true, true},
                      Row{1, false, false, true}, Row{2, false, false, false}}) {
    Machine m;
    m.unprivileged_at(r.level);
    SCOPED_TRACE("paranoid " + std::to_string(r.level));
    EXPECT_TRUE(m.verdict(Feature::count_own).ok);
    EXPECT_TRUE(m.verdict(Feature::profile_own).ok);
    EXPECT_EQ(m.verdict(Feature::profile_own).fix.empty(), r.kernel_frames);
    EXPECT_EQ(m.verdict(Feature::count_system).ok, r.count_system);
    EXPECT_EQ(m.verdict(Feature::profile_system).ok, r.profile_system);
    EXPECT_FALSE(m.verdict(Feature::ebpf_profile).ok);
    EXPECT_TRUE(m.verdict(Feature::heap_profile).ok);
    if (!r.count_system) {
      const auto fix = m.verdict(Feature::count_system).fix;
      EXPECT_NE(fix.find("sudo sysctl -w kernel.perf_event_paranoid=0"), std::string::npos) << fix;
      EXPECT_NE(fix.find("/etc/sysctl.d/99-perfscope.conf"), std::string::npos) << fix;
      EXPECT_NE(fix.find("setcap cap_perfmon,cap_bpf,cap_syslog=ep"), std::string::npos) << fix;
      EXPECT_NE(fix.find("perf_event_paranoid is " + std::to_string(r.level)), std::string::npos)
          << fix;
    }
  }
}

TEST(DoctorVerdict, DebianLevelFourBlocksEvenOwnProcesses) {
  Machine m;
  m.unprivileged_at(4);
  m.probes.count_own_user = denied();
  m.probes.sample_own_user = denied();
  const auto v = m.verdict(Feature::count_own);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("kernel.perf_event_paranoid=2"), std::string::npos) << v.fix;
  EXPECT_FALSE(m.verdict(Feature::profile_own).ok);
}

TEST(DoctorVerdict, PerfmonCapabilityBypassesParanoid) {
  Machine m;
  m.caps.paranoid = 4;
  m.caps.effective_caps = kCapPerfmon;
  EXPECT_TRUE(m.verdict(Feature::count_system).ok);
}

TEST(DoctorVerdict, SeccompRefusalIsNamedWhenParanoidAllows) {
  Machine m;
  m.caps.paranoid = -1;
  m.probes.seccomp_mode = 2;
  m.probes.count_system_wide = denied(EPERM);
  const auto v = m.verdict(Feature::count_system);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("seccomp"), std::string::npos) << v.fix;
}

TEST(DoctorVerdict, SyscallSummaryNeedsEbpfOrRawTracepointData) {
  Machine root;
  auto v = root.verdict(Feature::syscall_summary);
  EXPECT_TRUE(v.ok);
  EXPECT_NE(v.why.find("eBPF"), std::string::npos) << v.why;

  // No eBPF, but raw tracepoint data allowed: the perf backend.
  Machine no_bpf;
  no_bpf.probes.bpf_perf_program = denied(EPERM);
  v = no_bpf.verdict(Feature::syscall_summary);
  EXPECT_TRUE(v.ok);
  EXPECT_NE(v.why.find("perf tracepoint events"), std::string::npos) << v.why;

  // An unprivileged user at paranoid 1: tracepoints count, but their raw data is refused.
  Machine user;
  user.unprivileged_at(1);
  v = user.verdict(Feature::syscall_summary);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.why.find("raw data"), std::string::npos) << v.why;
  EXPECT_NE(v.fix.find("setcap cap_perfmon,cap_bpf=ep"), std::string::npos) << v.fix;
}

TEST(DoctorVerdict, MissingOrUnreadableTracefs) {
  Machine m;
  m.probes.bpf_perf_program = denied(EPERM);
  m.caps.tracefs_path.clear();
  m.probes.tracepoint = {false, 0, "tracefs is not mounted"};
  auto v = m.verdict(Feature::syscall_summary);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("mount -t tracefs nodev /sys/kernel/tracing"), std::string::npos) << v.fix;

  Machine u;
  u.probes.bpf_perf_program = denied(EPERM);
  u.caps.tracefs_readable = false;
  u.probes.tracepoint = {false, EACCES, "cannot read tracepoint ids"};
  v = u.verdict(Feature::syscall_summary);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("remount,mode=755"), std::string::npos) << v.fix;
}

TEST(DoctorVerdict, NoHardwarePmuMeansSoftwareEventsOnly) {
  Machine m;
  m.caps.hardware_pmu = false;
  m.probes.hardware_counter = denied(ENOENT);
  const auto v = m.verdict(Feature::hardware_counters);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.why.find("virtual machine"), std::string::npos);
  EXPECT_NE(v.fix.find("cpu-clock"), std::string::npos);
}

TEST(DoctorVerdict, EbpfNeedsBpfAndBtf) {
  Machine m;
  m.caps.btf = false;
  auto v = m.verdict(Feature::ebpf_profile);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.why.find("BTF"), std::string::npos);
  Machine n;
  n.probes.bpf_stack_map = denied(EPERM);
  v = n.verdict(Feature::ebpf_profile);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("cap_bpf"), std::string::npos);
}

TEST(DoctorVerdict, HiddenKallsymsBlocksKernelStacks) {
  Machine m;
  m.caps.kptr_restrict = 2;
  m.probes.kallsyms_addresses = false;
  const auto v = m.verdict(Feature::profile_system);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.fix.find("kernel.kptr_restrict=1"), std::string::npos) << v.fix;
  EXPECT_NE(v.fix.find("cap_syslog"), std::string::npos) << v.fix;
}

TEST(DoctorVerdict, FindingsFlagSmallLimits) {
  Machine m;
  m.caps.paranoid = 2;  // at -1 the kernel does not charge ring buffers to RLIMIT_MEMLOCK
  m.caps.mlock_kb = 100;
  m.probes.open_files_limit = 16;
  const auto d = diagnose(m.caps, m.probes, 64);
  int flagged = 0;
  for (const auto& f : d.findings) {
    if ((f.topic == "perf_event_mlock_kb" || f.topic == "open files") && !f.ok) ++flagged;
  }
  EXPECT_EQ(flagged, 2);
}

}  // namespace
}  // namespace perfscope::system
