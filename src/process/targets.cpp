#include "process/targets.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <charconv>

#include "core/files.hpp"

namespace perfscope::process {

Result<std::vector<int>> parse_id_list(const std::string& text, const char* what) {
  std::vector<int> ids;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    int v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v <= 0) {
      return Error{
          fmt::format("invalid {} '{}'", what, item), 0,
          fmt::format("  give positive numbers separated by commas: -{} 1234,5678", what[0])};
    }
    ids.push_back(v);
  }
  if (ids.empty()) return Error{fmt::format("empty {} list", what), 0, {}};
  return ids;
}

Result<ProcessTargets> process_targets(const std::string& pids) {
  auto ids = parse_id_list(pids, "pid");
  if (!ids) return ids.error();
  ProcessTargets out;
  for (int pid : *ids) {
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
      // pidfd_open refuses a thread that is not its process's leader (EINVAL, or ENOENT on newer
      // kernels); /proc still knows it, and names its process.
      const long tgid = proc_status_field(pid, "Tgid:");
      if (tgid > 0 && tgid != pid) {
        return Error{
            fmt::format("{} is a thread id, not a process id", pid), 0,
            fmt::format("  count that thread with -t {}, or its process with -p {}", pid, tgid)};
      }
    }
    auto tasks = list_directory("/proc/" + std::to_string(pid) + "/task");
    if (fd < 0 || !tasks) {
      if (fd >= 0) ::close(static_cast<int>(fd));
      return Error{fmt::format("no process with pid {}", pid), 0,
                   "  check the pid with `ps -p PID`; the process may have exited"};
    }
    out.pidfds.emplace_back(static_cast<int>(fd));
    out.pids.push_back(pid);
    for (const auto& t : *tasks) {
      out.threads.push_back(static_cast<pid_t>(std::stoi(t)));
      out.thread_pids.push_back(pid);
    }
  }
  return out;
}

Result<std::vector<std::int64_t>> parse_pid_filter(const std::string& text) {
  std::vector<std::int64_t> pids;
  const std::string_view all = text;
  for (std::size_t start = 0;;) {
    const auto comma = all.find(',', start);
    const std::string_view item =
        all.substr(start, comma == std::string_view::npos ? comma : comma - start);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0) {
      return Error{fmt::format("invalid pid '{}'", item), 0,
                   "  give process ids separated by commas: --pid 1234,5678"};
    }
    pids.push_back(v);
    if (comma == std::string_view::npos) return pids;
    start = comma + 1;
  }
}

Result<CpuSet> choose_cpus(const std::string& list) {
  auto online = CpuSet::online();
  if (!online) return online.error();
  if (list.empty()) return *online;
  auto chosen = CpuSet::parse(list);
  if (!chosen) return chosen.error();
  if (!chosen->subset_of(*online)) {
    return Error{fmt::format("CPU list '{}' names CPUs that are not online", list), 0,
                 fmt::format("  online CPUs: {}", online->to_string())};
  }
  return *chosen;
}

}  // namespace perfscope::process
