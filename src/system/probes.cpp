#include "system/probes.hpp"

#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "core/files.hpp"
#include "core/perf_syscall.hpp"
#include "core/unique_fd.hpp"
#include "system/binary_check.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::system {
namespace {

ProbeResult open_probe(perf_event_attr attr, pid_t pid, int cpu, std::string detail) {
  attr.size = sizeof attr;
  attr.disabled = 1;
  auto fd = perf_event_open(attr, pid, cpu, -1, "probe");
  return ProbeResult{true, fd ? 0 : fd.error().errnum, std::move(detail)};
}

perf_event_attr software(std::uint64_t config, bool kernel) {
  perf_event_attr a{};
  a.type = PERF_TYPE_SOFTWARE;
  a.config = config;
  a.exclude_kernel = !kernel;
  a.exclude_hv = 1;
  return a;
}

perf_event_attr sampling(bool kernel) {
  perf_event_attr a = software(PERF_COUNT_SW_CPU_CLOCK, kernel);
  a.freq = 1;
  a.sample_freq = 99;
  a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN;
  return a;
}

// A process owned by someone else: the first /proc entry whose uid differs from ours.
pid_t other_users_process() {
  auto entries = list_directory("/proc");
  if (!entries) return -1;
  const uid_t me = ::getuid();
  for (const auto& e : *entries) {
    if (e.empty() || e.find_first_not_of("0123456789") != std::string::npos) continue;
    const long uid = proc_status_field(std::stol(e), "Uid:");
    if (uid >= 0 && static_cast<uid_t>(uid) != me) return std::stoi(e);
  }
  return -1;
}

ProbeResult bpf_call(int cmd, bpf_attr& attr, std::string detail) {
  const long fd = ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
  ProbeResult r{true, fd < 0 ? errno : 0, std::move(detail)};
  if (fd >= 0) ::close(static_cast<int>(fd));
  return r;
}

ProbeResult probe_bpf_program() {
  // r0 = 0; exit: the smallest valid program, loaded as the perf_event type record uses.
  const bpf_insn insns[2] = {{0xb7, 0, 0, 0, 0}, {0x95, 0, 0, 0, 0}};
  const char license[] = "GPL";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_PERF_EVENT;
  attr.insns = reinterpret_cast<std::uintptr_t>(insns);
  attr.insn_cnt = 2;
  attr.license = reinterpret_cast<std::uintptr_t>(license);
  return bpf_call(BPF_PROG_LOAD, attr, "bpf(BPF_PROG_LOAD, perf_event program)");
}

ProbeResult probe_bpf_stack_map() {
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_STACK_TRACE;
  attr.key_size = 4;
  attr.value_size = 127 * 8;
  attr.max_entries = 16;
  return bpf_call(BPF_MAP_CREATE, attr, "bpf(BPF_MAP_CREATE, stack trace map)");
}

bool kallsyms_shows_addresses() {
  auto text = read_text_file("/proc/kallsyms");
  if (!text || text->empty()) return false;
  std::istringstream in(*text);
  std::string line;
  for (int i = 0; i < 16 && std::getline(in, line); ++i) {
    if (line.find_first_not_of('0') < line.find(' ')) return true;
  }
  return false;
}

}  // namespace

ProbeResults run_probes(const Capabilities& caps) {
  ProbeResults r;
  r.count_own_user =
      open_probe(software(PERF_COUNT_SW_TASK_CLOCK, false), 0, -1, "task-clock:u, this process");
  r.count_own_kernel =
      open_probe(software(PERF_COUNT_SW_TASK_CLOCK, true), 0, -1, "task-clock, this process");
  r.sample_own_user =
      open_probe(sampling(false), 0, -1, "cpu-clock:u sampling with callchains, this process");
  r.sample_own_kernel =
      open_probe(sampling(true), 0, -1, "cpu-clock sampling with kernel callchains, this process");
  r.count_system_wide = open_probe(software(PERF_COUNT_SW_CPU_CLOCK, true), -1, 0,
                                   "cpu-clock, all processes on CPU 0");
  r.sample_system_wide = open_probe(sampling(true), -1, 0,
                                    "cpu-clock sampling with callchains, all processes on CPU 0");

  if (const pid_t other = other_users_process(); other > 0) {
    r.count_other_user =
        open_probe(software(PERF_COUNT_SW_TASK_CLOCK, false), other, -1,
                   "task-clock:u on pid " + std::to_string(other) + " (another user's)");
  } else {
    r.count_other_user.detail = "no process of another user was found to try";
  }

  if (caps.tracefs_path.empty()) {
    r.tracepoint.detail = "tracefs is not mounted";
  } else {
    auto id = read_int_file(caps.tracefs_path + "/events/sched/sched_switch/id");
    if (!id) {
      r.tracepoint.detail = "cannot read tracepoint ids under " + caps.tracefs_path;
      r.tracepoint.errnum = id.error().errnum;
    } else {
      perf_event_attr a{};
      a.type = PERF_TYPE_TRACEPOINT;
      a.config = static_cast<std::uint64_t>(*id);
      r.tracepoint = open_probe(a, 0, -1, "sched:sched_switch, this process");
    }
  }

  const Pmu* uprobe = caps.find_pmu("uprobe");
  const std::string self = self_executable_path();
  // The entry point is a real instruction that never runs again: a safe place for the probe.
  const auto binary = inspect_binary(self, 0);
  const long offset = binary ? binary->entry_offset : -1;
  if (uprobe == nullptr) {
    r.uprobe.detail = "no uprobe PMU in /sys/bus/event_source/devices";
  } else if (offset < 0) {
    r.uprobe.detail = "could not find an entry point in " + self;
  } else {
    perf_event_attr a{};
    a.type = uprobe->type;
    a.config1 = reinterpret_cast<std::uintptr_t>(self.c_str());  // uprobe_path
    a.config2 = static_cast<std::uint64_t>(offset);              // probe_offset
    r.uprobe = open_probe(a, 0, -1, "uprobe on " + self + " entry point");
  }

  r.bpf_perf_program = probe_bpf_program();
  r.bpf_stack_map = probe_bpf_stack_map();
  perf_event_attr hw{};
  hw.type = PERF_TYPE_HARDWARE;
  hw.config = PERF_COUNT_HW_CPU_CYCLES;
  hw.exclude_kernel = 1;
  hw.exclude_hv = 1;
  r.hardware_counter = open_probe(hw, 0, -1, "cycles:u, this process");

  r.kallsyms_addresses = kallsyms_shows_addresses();
  if (auto status = read_text_file("/proc/self/status")) {
    const auto at = status->find("\nSeccomp:");
    if (at != std::string::npos) r.seccomp_mode = std::atoi(status->c_str() + at + 9);
  }
  for (const char* marker : {"/.dockerenv", "/run/.containerenv"}) {
    if (path_exists(marker)) r.container_markers.emplace_back(marker);
  }
  if (auto cg = read_text_file("/proc/1/cgroup")) {
    for (const char* word : {"docker", "kubepods", "containerd", "libpod", "lxc"}) {
      if (cg->find(word) != std::string::npos)
        r.container_markers.push_back(std::string("cgroup ") + word);
    }
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) r.open_files_limit = static_cast<long>(rl.rlim_cur);
  return r;
}

}  // namespace perfscope::system
