#include "bpf/syscall_tracer.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/libbpf_log.hpp"
#include "bpf/profiler.hpp"
#include "core/files.hpp"
#include "syscalls/names.hpp"
#include "syscalls/perf_tracer.hpp"
#include "syscalls_abi.h"

// bpftool writes the skeleton in C, where a bool global of the program is a `_Bool` field:
// g++ takes `_Bool` in C++, clang++ (the libFuzzer build) does not. It is C++'s bool.
#define _Bool bool
#include "syscalls.skel.h"
#undef _Bool

namespace perfscope::bpf {
namespace {

// Whether the running kernel is at least major.minor (from uname's release, "6.1.0-13-amd64").
bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

class BpfSyscallTracer final : public syscalls::Tracer {
 public:
  ~BpfSyscallTracer() override {
    for (auto* link : links_) bpf_link__destroy(link);
    if (skel_ != nullptr) perfscope_syscalls__destroy(skel_);
  }
  const char* backend() const override { return "bpf"; }

  Status open(const syscalls::TracerOptions& o) {
    options_ = o;
    capture_libbpf_output();
    skel_ = perfscope_syscalls__open();
    if (skel_ == nullptr) {
      return Error{"open the eBPF syscall tracer", errno,
                   "  libbpf could not open the embedded object" + libbpf_tail()};
    }
    auto& ro = *skel_->rodata;
    ro.filter_targets = !o.all;
    ro.follow_children = o.command > 0;
    ro.by = o.by == syscalls::GroupBy::thread    ? PS_SC_BY_THREAD
            : o.by == syscalls::GroupBy::process ? PS_SC_BY_PROCESS
                                                 : PS_SC_BY_SYSCALL;
    ro.self_tgid = static_cast<std::uint32_t>(::getpid());
    ro.sigreturn_nr = syscalls::syscall_number("rt_sigreturn").value_or(-1);
    ro.execve_nr = syscalls::syscall_number("execve").value_or(-1);
    ro.execveat_nr = syscalls::syscall_number("execveat").value_or(-1);
    // Off-CPU accounting costs a hash lookup per context switch: only when the time column
    // needs it.
    bpf_program__set_autoload(skel_->progs.on_sched_switch, o.cpu_time);
    // The two hashes: a preallocated per-CPU `counts` takes 16384 x 376 bytes on every possible
    // CPU (800 MB on 128 CPUs). Rows per syscall only live in counts_by_nr, so `counts` shrinks to
    // one entry; split rows grow as they appear where the kernel allocates safely from tracing
    // programs (Linux 6.1's BPF memory allocator; before it, run-time allocation warns).
    if (ro.by == PS_SC_BY_SYSCALL) (void)bpf_map__set_max_entries(skel_->maps.counts, 1);
    if (kernel_at_least(6, 1)) {
      (void)bpf_map__set_map_flags(skel_->maps.counts, BPF_F_NO_PREALLOC);
      (void)bpf_map__set_map_flags(skel_->maps.errors, BPF_F_NO_PREALLOC);
    }
    if (int err = perfscope_syscalls__load(skel_); err != 0) {
      return Error{"load the eBPF syscall tracer", err < 0 ? -err : err,
                   "  the kernel refused the BPF programs (for the details: perfscope doctor "
                   "--need ebpf)" +
                       libbpf_tail()};
    }
    for (pid_t pid : o.pids) add_target(static_cast<std::uint32_t>(pid), PS_SC_TARGET_ACTIVE);
    if (o.command > 0) add_target(static_cast<std::uint32_t>(o.command), PS_SC_TARGET_AWAIT_EXEC);
    return {};
  }

  Status start() override {
    for (bpf_program* prog :
         {skel_->progs.on_sys_enter, skel_->progs.on_sys_exit, skel_->progs.on_sched_switch,
          skel_->progs.on_fork, skel_->progs.on_exec, skel_->progs.on_exit}) {
      if (!bpf_program__autoload(prog)) continue;
      bpf_link* link = bpf_program__attach(prog);
      if (link == nullptr) {
        return Error{fmt::format("attach {}", bpf_program__name(prog)), errno, libbpf_tail()};
      }
      links_.push_back(link);
    }
    return {};
  }

  Result<bool> wait(int fd, int timeout_ms) override {
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, fd >= 0 ? 1 : 0, timeout_ms);
    if (n < 0 && errno != EINTR) return errno_error("poll");
    return n > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
  }

  bool followed_alive() override {
    // The program drops a process from `targets` when its last thread exits; a zombie or a
    // process that died before attaching is checked here.
    const int fd = bpf_map__fd(skel_->maps.targets);
    std::uint32_t key = 0, next = 0;
    const std::uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      if (process_running(next)) return true;
      key = next;
      prev = &key;
    }
    return false;
  }

  Result<syscalls::Summary> finish() override {
    for (auto* link : links_) bpf_link__destroy(link);
    links_.clear();
    syscalls::Summary s;
    s.by = options_.by;
    s.backend = "bpf";
    s.cpu_time = options_.cpu_time;
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return Error{"count the possible CPUs", -ncpu, ""};
    const auto n = static_cast<std::size_t>(ncpu);

    const auto to_key = [&](const ps_sc_key& k) {
      syscalls::RowKey key;
      key.tgid = k.tgid;
      key.tid = k.tid;
      key.nr = k.nr;
      key.comm.assign(k.comm, strnlen(k.comm, sizeof k.comm));
      return key;
    };
    std::vector<ps_sc_value> values(n);
    const auto add_row = [&](const ps_sc_key& key) {
      syscalls::RowStats row;
      for (const auto& v : values) {
        if (v.calls == 0) continue;
        syscalls::RowStats cpu;
        cpu.calls = v.calls;
        cpu.timed = v.calls - v.untimed;
        cpu.errors = v.errors;
        cpu.wall_ns = v.wall_ns;
        cpu.cpu_ns = v.cpu_ns;
        cpu.min_ns = v.min_ns;
        cpu.max_ns = v.max_ns;
        for (std::size_t b = 0; b < cpu.histogram.size(); ++b) cpu.histogram[b] = v.hist[b];
        row.merge(cpu);
      }
      if (row.calls > 0) s.rows[to_key(key)].merge(row);
    };
    if (options_.by == syscalls::GroupBy::syscall) {
      const int fd = bpf_map__fd(skel_->maps.counts_by_nr);
      for (std::uint32_t nr = 0; nr < PS_SC_MAX_NR; ++nr) {
        if (bpf_map_lookup_elem(fd, &nr, values.data()) != 0) continue;
        ps_sc_key key{};
        key.nr = static_cast<std::int32_t>(nr);
        add_row(key);
      }
    } else {
      const int fd = bpf_map__fd(skel_->maps.counts);
      ps_sc_key key{}, next{};
      const ps_sc_key* prev = nullptr;
      while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, values.data()) == 0) add_row(key);
      }
    }
    {
      const int fd = bpf_map__fd(skel_->maps.errors);
      std::vector<std::uint64_t> per_cpu(n);
      ps_sc_error_key key{}, next{};
      const ps_sc_error_key* prev = nullptr;
      while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
        std::uint64_t sum = 0;
        for (auto v : per_cpu) sum += v;
        if (sum > 0) s.rows[to_key(key.row)].errnos[key.err] += sum;
      }
    }
    s.lost = stat_sum(PS_SC_STAT_UNKNOWN_NR) + stat_sum(PS_SC_STAT_COUNTS_FULL);
    s.unfinished = stat_sum(PS_SC_STAT_UNFINISHED);
    if (const auto e = stat_sum(PS_SC_STAT_ERRORS_FULL); e > 0) {
      notes_.push_back(
          fmt::format("{} failed calls are missing from the errno breakdown (its map "
                      "was full)",
                      e));
    }
    return s;
  }

 private:
  // Before the programs attach, so nothing else writes the bitmap meanwhile.
  void add_target(std::uint32_t tgid, std::uint8_t state) {
    (void)bpf_map__update_elem(skel_->maps.targets, &tgid, sizeof tgid, &state, sizeof state,
                               BPF_ANY);
    if (state != PS_SC_TARGET_ACTIVE) return;
    const std::uint32_t word = tgid / 64;
    std::uint64_t bits = 0;
    if (bpf_map__lookup_elem(skel_->maps.active_bits, &word, sizeof word, &bits, sizeof bits, 0) !=
        0)
      return;
    bits |= std::uint64_t{1} << (tgid % 64);
    (void)bpf_map__update_elem(skel_->maps.active_bits, &word, sizeof word, &bits, sizeof bits,
                               BPF_ANY);
  }
  std::uint64_t stat_sum(std::uint32_t slot) const {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &slot, per_cpu.data()) != 0) return 0;
    std::uint64_t sum = 0;
    for (auto v : per_cpu) sum += v;
    return sum;
  }

  syscalls::TracerOptions options_;
  perfscope_syscalls* skel_ = nullptr;
  std::vector<bpf_link*> links_;
};

}  // namespace

Result<std::unique_ptr<syscalls::Tracer>> open_syscall_tracer(
    const syscalls::TracerOptions& options, const system::Capabilities& caps) {
  if (auto why = unavailable_reason(caps); !why.empty()) {
    return Error{"load the eBPF syscall tracer", EPERM, "  " + why};
  }
  auto t = std::make_unique<BpfSyscallTracer>();
  if (auto st = t->open(options); !st) return st.error();
  return std::unique_ptr<syscalls::Tracer>(std::move(t));
}

namespace {

// A perf tracer's error as one clause: its message and its hint's lines, without "more:" lines.
std::string one_clause(const Error& e) {
  std::string out = e.message();
  std::string_view rest = e.hint;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty() && !line.starts_with("more:")) out += fmt::format("; {}", line);
  }
  return out;
}

Result<std::unique_ptr<syscalls::Tracer>> open_chosen_tracer(syscalls::BackendChoice choice,
                                                             const syscalls::TracerOptions& t,
                                                             const system::Capabilities& caps) {
  using syscalls::BackendChoice;
  std::string bpf_why;
  if (choice != BackendChoice::perf) {
    bpf_why = unavailable_reason(caps);
    if (bpf_why.empty()) {
      auto tracer = open_syscall_tracer(t, caps);
      if (tracer) return tracer;
      bpf_why = tracer.error().describe();
    }
    if (choice == BackendChoice::bpf) {
      return Error{"the eBPF backend cannot run here", 0,
                   fmt::format("  {}\n  or use --backend perf\n  more: perfscope doctor --need "
                               "syscalls,ebpf",
                               bpf_why)};
    }
  }
  auto tracer = syscalls::open_perf_tracer(t, caps);
  if (tracer) {
    if (!bpf_why.empty()) (*tracer)->add_note("eBPF cannot run here (" + bpf_why + ")");
    return tracer;
  }
  if (choice == BackendChoice::perf) return tracer.error();
  return Error{"cannot count system calls here", 0,
               fmt::format("  eBPF: {}\n  perf tracepoints: {}\n  fix: run as root, or sudo setcap "
                           "cap_perfmon,cap_bpf=ep {}\n  more: perfscope doctor --need syscalls",
                           bpf_why, one_clause(tracer.error()), read_link("/proc/self/exe"))};
}

}  // namespace

syscalls::TracerOpener syscall_tracer_opener(syscalls::BackendChoice choice,
                                             const system::Capabilities& caps) {
  return [choice, &caps](const syscalls::TracerOptions& t) {
    return open_chosen_tracer(choice, t, caps);
  };
}

}  // namespace perfscope::bpf
