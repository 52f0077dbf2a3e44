// Session: one count of system calls, from the request to its Summary, whichever backend counts.
// A command is started held (process::Workload: as the invoking user under sudo, killed with
// perfscope) so its calls count from its exec and its children are followed; -p processes are
// counted until they have all exited; every process (-a) until the duration or a stop signal.
// `perfscope syscalls` and `scenario` are clients; the library never prints: what a person should
// read comes back as notes and as the result's fields.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "process/signal_watch.hpp"
#include "process/workload.hpp"
#include "syscalls/summary.hpp"
#include "syscalls/tracer.hpp"

namespace perfscope::syscalls {

enum class BackendChoice { automatic, bpf, perf };
// "auto", "bpf", "perf" (--backend).
std::optional<BackendChoice> parse_backend(std::string_view text);

struct SessionOptions {
  GroupBy by = GroupBy::syscall;
  // Exactly one target: every process (but perfscope), these processes (all their threads, not
  // their children), or a command (with its children).
  bool all = false;
  std::vector<pid_t> pids;
  std::vector<std::string> command;
  process::WorkloadOptions workload;  // how the command runs
  bool cpu_time = true;               // measure on-CPU time in the call too, where the backend can
  double duration_s = 0;              // 0: until the targets are gone, or a stop signal
};

// Opens the tracer once the TracerOptions are final (a held command's pid is known only after
// open() prepared it). The layer that knows both backends makes one: bpf::syscall_tracer_opener.
using TracerOpener = std::function<Result<std::unique_ptr<Tracer>>(const TracerOptions&)>;

struct SessionResult {
  Summary summary;                 // elapsed_s is the counting time
  std::vector<std::string> notes;  // the tracer's, from opening to finishing
  int stop_signal = 0;             // the first stop signal received, or 0
  // With a command:
  pid_t command_pid = 0;
  std::string command_line;
  // Its exit status (the shell convention, 128 + N for signal N); 0 when the duration ended it
  // (the count asked for its end), 128 + stop_signal when it had to be killed after a signal.
  int command_status = 0;
  bool command_ended_by_duration = false;
  // Still running process::Workload::kEndGraceSeconds after its signal (the duration's SIGTERM,
  // or the stop signal passed on), so it was killed with SIGKILL.
  bool command_killed = false;
};

class Session {
 public:
  Session(Session&&) noexcept;
  Session& operator=(Session&&) = delete;
  ~Session();  // a command prepared but never run is killed

  // Checks the request, prepares a held command and opens the tracer. Nothing counts until
  // start().
  static Result<Session> open(SessionOptions options, const TracerOpener& open_tracer);

  const char* backend() const { return tracer_->backend(); }
  // Fallbacks and choices made so far ("eBPF cannot run here (...)").
  const std::vector<std::string>& notes() const { return tracer_->notes(); }

  // Starts counting, then lets a held command exec.
  Status start();

  // Counts until the duration ends or the targets are gone (a command and every process it
  // started; every -p process), then reads the summary and ends a command still running
  // (SIGTERM, SIGKILL kEndGraceSeconds later). `signals` (optional) stops the count: with a
  // command still running, a signal sent to perfscope alone (kill, not a terminal's Ctrl-C, which
  // reached the command already) is passed on, and the command has kEndGraceSeconds to exit;
  // a second signal, or one without a command, stops at once.
  Result<SessionResult> run(process::SignalWatch* signals = nullptr);

 private:
  Session() = default;
  bool targets_gone();
  // Reads pending signals; true when the count must stop now.
  bool take_signals(process::SignalWatch& signals, SessionResult& result, double& grace_end);
  void end_command(SessionResult& result, bool duration_ended);

  SessionOptions options_;
  std::unique_ptr<Tracer> tracer_;
  std::optional<process::Workload> workload_;
  double start_time_ = 0;
};

}  // namespace perfscope::syscalls
