#include "stat/scope.hpp"

#include <fcntl.h>

#include <fmt/format.h>

#include "process/targets.hpp"

namespace perfscope::stat {
namespace {

// The cgroup directory: an absolute path, or one relative to a cgroup mount.
Result<UniqueFd> open_cgroup(const std::string& path) {
  std::vector<std::string> candidates;
  if (path.front() == '/') {
    candidates.push_back(path);
  } else {
    for (const char* root :
         {"/sys/fs/cgroup/", "/sys/fs/cgroup/unified/", "/sys/fs/cgroup/perf_event/"})
      candidates.push_back(root + path);
  }
  int last_errno = ENOENT;
  for (const auto& c : candidates) {
    UniqueFd fd(::open(c.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) return fd;
    last_errno = errno;
  }
  std::string looked;
  for (const auto& c : candidates) looked += (looked.empty() ? "" : ", ") + c;
  return Error{fmt::format("cannot open cgroup {} (looked at {})", path, looked), last_errno,
               "  give the cgroup's directory, e.g. --cgroup /sys/fs/cgroup/system.slice, or a "
               "path relative to the cgroup mount"};
}

Result<Scope> cpu_scope(const ScopeFlags& flags) {
  auto cpus = process::choose_cpus(flags.cpus.value_or(""));
  if (!cpus) return cpus.error();
  Scope s;
  if (flags.cgroup) {
    auto fd = open_cgroup(*flags.cgroup);
    if (!fd) return fd.error();
    s.cgroup = std::move(*fd);
    for (int cpu : *cpus) {
      counting::Target t{-1, cpu};
      t.cgroup_fd = s.cgroup.get();
      s.targets.push_back({t, -1, -1, *flags.cgroup});
    }
    s.subject = "cgroup " + *flags.cgroup;
    return s;
  }
  for (int cpu : *cpus) s.targets.push_back({{-1, cpu}, cpu, -1, {}});
  s.subject = flags.cpus ? "CPU(s) " + *flags.cpus : "system wide";
  return s;
}

}  // namespace

Status check_scope(const ScopeFlags& flags) {
  struct Given {
    const char* flag;
    const std::optional<std::string>& value;
    const char* hint;
  };
  const Given lists[] = {
      {"-C", flags.cpus, "  give CPUs such as -C 0-3,7, or -a for every CPU"},
      {"-p", flags.pids, "  give process ids separated by commas: -p 1234,5678"},
      {"-t", flags.tids, "  give thread ids separated by commas: -t 1234,5678"},
      {"--cgroup", flags.cgroup, "  give the cgroup's directory: --cgroup /sys/fs/cgroup/x"},
  };
  std::vector<std::string> chosen;
  if (flags.all_cpus) chosen.emplace_back("-a");
  for (const auto& g : lists) {
    if (!g.value) continue;
    if (g.value->empty())
      return Error{fmt::format("{} was given an empty list", g.flag), 0, g.hint};
    chosen.emplace_back(g.flag);
  }
  // -C narrows -a; a cgroup is counted on every CPU (or those of -C).
  const bool by_cpu = flags.all_cpus || flags.cpus;
  const int scopes = (by_cpu && !flags.cgroup ? 1 : 0) + (flags.pids ? 1 : 0) +
                     (flags.tids ? 1 : 0) + (flags.cgroup ? 1 : 0);
  if (scopes > 1) {
    std::string names;
    for (std::size_t i = 0; i < chosen.size(); ++i)
      names += (i == 0 ? "" : i + 1 == chosen.size() ? " and " : ", ") + chosen[i];
    return Error{"choose one of " + names, 0,
                 "  they select different things to count: CPUs, processes, threads or a cgroup"};
  }
  return {};
}

Result<Scope> choose_scope(const ScopeFlags& flags, const process::Workload* workload) {
  if (auto st = check_scope(flags); !st) return st.error();
  if (flags.pids) {
    auto processes = process::process_targets(*flags.pids);
    if (!processes) return processes.error();
    Scope s;
    for (std::size_t i = 0; i < processes->threads.size(); ++i)
      s.targets.push_back({{processes->threads[i], -1}, -1, processes->thread_pids[i], {}});
    if (workload == nullptr) s.pidfds = std::move(processes->pidfds);
    s.options.inherit = flags.inherit;
    s.tolerate_vanished = true;
    s.subject = "process id '" + *flags.pids + "'";
    return s;
  }
  if (flags.tids) {
    auto tids = process::parse_id_list(*flags.tids, "tid");
    if (!tids) return tids.error();
    Scope s;
    for (int tid : *tids) s.targets.push_back({{tid, -1}, -1, -1, {}});
    s.options.inherit = flags.inherit;
    s.subject = "thread id '" + *flags.tids + "'";
    return s;
  }
  if (flags.all_cpus || flags.cpus || flags.cgroup) return cpu_scope(flags);
  if (workload == nullptr) {
    return Error{"nothing to count", 0,
                 "  give a command (-- ls), -p PID, -t TID, or -a for the whole system"};
  }
  Scope s;
  s.targets.push_back({{workload->pid(), -1}, -1, workload->pid(), {}});
  s.options.inherit = flags.inherit;
  s.options.enable_on_exec = true;
  s.subject = "'" + workload->command_line() + "'";
  return s;
}

}  // namespace perfscope::stat
