// Workload: a command perfscope starts and measures. The child is forked first and held before
// exec() until the caller has attached its counters (enable_on_exec then starts them exactly at
// exec), so nothing the command does is missed and nothing perfscope does is counted.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::process {

// The user a command runs as when perfscope itself runs as root.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct WorkloadOptions {
  // Under sudo, run the command as the invoking user (SUDO_UID/SUDO_GID, with that user's
  // supplementary groups and HOME), not as root: every command that starts one does this.
  bool as_invoking_user = true;
  // Variables set (or replaced) in the command's environment only; perfscope's own is untouched.
  std::vector<std::pair<std::string, std::string>> environment;
};
// The user who ran `sudo perfscope ...` (SUDO_UID / SUDO_GID), when perfscope runs as root under
// sudo: a profiled build or test should not run as root just because profiling needed it.
std::optional<RunAs> sudo_invoker();

class Workload {
 public:
  Workload(Workload&& o) noexcept;
  Workload& operator=(Workload&&) = delete;
  Workload(const Workload&) = delete;
  ~Workload();  // kills and reaps a child that was prepared but never waited for

  // Forks the child. The child restores the default signal mask and dispositions, then waits.
  // It asks to be killed (SIGKILL) if perfscope dies first, so a profiled command never outlives
  // a perfscope that was killed. Under sudo it drops to the invoking user (see WorkloadOptions).
  static Result<Workload> prepare(const std::vector<std::string>& argv,
                                  const WorkloadOptions& options = {});
  // Lets the child exec. Returns once exec() happened, or with the reason it failed.
  Status start();
  // Non-blocking reap: true once the child has exited (status and rusage are then valid).
  bool try_reap();
  // Blocking reap.
  void reap();
  // How long end() waits after its signal before SIGKILL; messages name it too.
  static constexpr int kEndGraceSeconds = 2;
  // Ends a child that is still running: `signal`, then SIGKILL if it has not exited
  // kEndGraceSeconds later (a command that ignores SIGTERM must not hang perfscope). Reaps it.
  // Returns false when it had to be killed.
  bool end(int signal);

  pid_t pid() const { return pid_; }
  bool exited() const { return exited_; }
  // The shell convention: the exit code, or 128 + signal number.
  int exit_code() const;
  const struct rusage& usage() const { return usage_; }
  const std::string& command_line() const { return command_line_; }

 private:
  Workload() = default;
  pid_t pid_ = -1;
  UniqueFd go_;          // write end: one byte releases the child
  UniqueFd exec_error_;  // read end: errno from a failed exec, EOF when exec succeeded
  bool exited_ = false;
  int status_ = 0;
  struct rusage usage_ {};
  std::string command_line_;
  std::string program_;
};

}  // namespace perfscope::process
