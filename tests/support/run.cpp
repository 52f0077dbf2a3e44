#include "support/run.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "system/cpu_times.hpp"

namespace perfscope::testing {
namespace {

// The copy nobody_dir() made, removed when the process that made it exits: each test runs in a
// process of its own, and one copy holds the perfscope binary (over 100 MB, near 300 MB under
// ASan), so copies left behind filled the disk. A forked child that exits leaves it alone.
char copied_dir[64] = {};
pid_t copied_by = 0;

void remove_copied_dir() {
  if (copied_dir[0] == '\0' || ::getpid() != copied_by) return;
  std::error_code ec;
  std::filesystem::remove_all(copied_dir, ec);
}

std::string nobody_dir() {
  static const std::string dir = [] {
    if (::geteuid() != 0) return std::string{};
    char tmpl[] = "/tmp/perfscope-nobody-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return std::string{};
    static_assert(sizeof(tmpl) <= sizeof(copied_dir));
    std::memcpy(copied_dir, tmpl, sizeof(tmpl));
    copied_by = ::getpid();
    std::atexit(remove_copied_dir);
    ::chmod(tmpl, 0755);
    namespace fs = std::filesystem;
    fs::copy_file(PERFSCOPE_BINARY, std::string(tmpl) + "/perfscope");
    // perfscope mem looks for its preload beside the binary.
    const auto preload = fs::path(PERFSCOPE_BINARY).parent_path() / "libperfscope-heap.so";
    if (fs::exists(preload)) fs::copy_file(preload, std::string(tmpl) + "/libperfscope-heap.so");
    for (const auto& e : fs::directory_iterator(PERFSCOPE_TARGETS_DIR)) {
      fs::copy_file(e.path(), std::string(tmpl) + "/" + e.path().filename().string());
    }
    return std::string(tmpl);
  }();
  return dir;
}

}  // namespace

double stolen_cpu_seconds() {
  double s = 0;
  for (const auto& [cpu, t] : system::read_cpu_times()) s += t.steal_s;
  return s;
}

std::string perfscope_binary() {
  return PERFSCOPE_BINARY;
}
std::string target(const std::string& name) {
  return std::string(PERFSCOPE_TARGETS_DIR) + "/" + name;
}
std::string perfscope_binary_for_nobody() {
  const auto d = nobody_dir();
  return d.empty() ? d : d + "/perfscope";
}
std::string target_for_nobody(const std::string& name) {
  const auto d = nobody_dir();
  return d.empty() ? d : d + "/" + name;
}

namespace {

// True once `pid` has executed its program (it is no longer a copy of this one) and blocks or
// catches `signal`, as /proc/PID/status shows in SigBlk and SigCgt.
bool handles_signal(pid_t pid, int signal) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  if (ec || exe == std::filesystem::read_symlink("/proc/self/exe", ec)) return false;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  const std::uint64_t bit = std::uint64_t{1} << (signal - 1);
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigCgt:", 0) == 0) {
      if (std::stoull(line.substr(7), nullptr, 16) & bit) return true;
    }
  }
  return false;
}

}  // namespace

bool child_has_run(int pid, const std::string& comm, double cpu_seconds) {
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream children(task.path() / "children");
    for (int child; children >> child;) {
      std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
      std::string line;
      std::getline(stat, line);
      // "pid (comm) state ppid ...": utime and stime are fields 14 and 15.
      const auto open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close + 2 > line.size() ||
          line.substr(open + 1, close - open - 1) != comm) {
        continue;
      }
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      unsigned long long utime = 0, stime = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
      }
      const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      if (static_cast<double>(utime + stime) / ticks >= cpu_seconds) return true;
    }
  }
  return false;
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return {};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::setpgid(0, 0);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
    if (options.as_nobody) {
      // As setpriv --reuid=65534 --regid=65534 --clear-groups: changing all uids away from 0
      // clears the effective, permitted and ambient capability sets.
      if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
          ::setresuid(65534, 65534, 65534) != 0) {
        ::_exit(126);
      }
      ::setenv("HOME", "/tmp", 1);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_streams = 2;
  timespec start;
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  bool interrupted = false;
  while (open_streams > 0) {
    int timeout = -1;
    if (options.interrupt_after_ms >= 0 && !interrupted) {
      timespec now;
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      const long elapsed =
          (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      timeout = static_cast<int>(std::max(0L, options.interrupt_after_ms - elapsed));
      if (timeout == 0) {
        const bool ready = handles_signal(pid, options.interrupt_signal) &&
                           (!options.interrupt_when || options.interrupt_when(pid));
        if (ready || elapsed > 60000) {
          ::kill(pid, options.interrupt_signal);
          interrupted = true;
          continue;
        }
        timeout = 5;  // not ready yet: look again shortly
      }
    }
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_streams;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace perfscope::testing
