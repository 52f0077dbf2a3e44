#include "syscalls/session.hpp"

#include <signal.h>

#include <algorithm>
#include <cmath>

#include "core/clock.hpp"
#include "core/files.hpp"

namespace perfscope::syscalls {

std::optional<BackendChoice> parse_backend(std::string_view text) {
  if (text == "auto") return BackendChoice::automatic;
  if (text == "bpf") return BackendChoice::bpf;
  if (text == "perf") return BackendChoice::perf;
  return std::nullopt;
}

Session::Session(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::open(SessionOptions options, const TracerOpener& open_tracer) {
  const int targets =
      (options.all ? 1 : 0) + (options.pids.empty() ? 0 : 1) + (options.command.empty() ? 0 : 1);
  if (targets != 1) {
    return Error{targets == 0 ? "nothing to count" : "choose one target", 0,
                 "  give exactly one of: -- CMD ARGS, -p PID, -a"};
  }
  if (!(options.duration_s >= 0) || !std::isfinite(options.duration_s)) {
    return Error{"the duration must be a positive number of seconds", 0, {}};
  }
  Session s;
  s.options_ = std::move(options);
  TracerOptions t{.by = s.options_.by,
                  .all = s.options_.all,
                  .pids = s.options_.pids,
                  .command = 0,
                  .cpu_time = s.options_.cpu_time};
  if (!s.options_.command.empty()) {
    auto w = process::Workload::prepare(s.options_.command, s.options_.workload);
    if (!w) return w.error();
    s.workload_.emplace(std::move(*w));
    t.command = s.workload_->pid();
  }
  auto tracer = open_tracer(t);
  if (!tracer) return tracer.error();
  s.tracer_ = std::move(*tracer);
  return s;
}

Status Session::start() {
  if (auto st = tracer_->start(); !st) return st;
  start_time_ = monotonic_seconds();
  if (workload_) return workload_->start();
  return {};
}

bool Session::targets_gone() {
  if (workload_) {
    // Like strace -f: until the command and every process it started are gone.
    (void)workload_->try_reap();
    return workload_->exited() && !tracer_->followed_alive();
  }
  if (options_.all) return false;
  return std::none_of(options_.pids.begin(), options_.pids.end(), process_running);
}

bool Session::take_signals(process::SignalWatch& signals, SessionResult& result,
                           double& grace_end) {
  for (auto sig = signals.next(); sig.number != 0; sig = signals.next()) {
    if (sig.number == SIGCHLD) continue;  // targets_gone() reaps
    const bool command_running = workload_ && !workload_->try_reap();
    if (!command_running || result.stop_signal != 0) {
      if (result.stop_signal == 0) result.stop_signal = sig.number;
      return true;
    }
    // The command decides (a terminal's Ctrl-C reached it too); its exit ends the count, and
    // a command that ignores the signal is killed kEndGraceSeconds later.
    result.stop_signal = sig.number;
    if (!sig.from_terminal) ::kill(workload_->pid(), sig.number);
    grace_end = monotonic_seconds() + process::Workload::kEndGraceSeconds;
  }
  return false;
}

void Session::end_command(SessionResult& result, bool duration_ended) {
  result.command_pid = workload_->pid();
  result.command_line = workload_->command_line();
  if (!workload_->try_reap()) {
    if (duration_ended) {
      // The duration ended the count before the command: it is ended too, as perf stat
      // --timeout does.
      result.command_ended_by_duration = true;
      result.command_killed = !workload_->end(SIGTERM);
    } else {
      // Its stop signal was passed on kEndGraceSeconds ago (or a second signal came).
      workload_->end(SIGKILL);
      result.command_killed = true;
    }
  }
  if (result.command_ended_by_duration) {
    result.command_status = 0;
  } else if (result.command_killed) {
    result.command_status = 128 + (result.stop_signal != 0 ? result.stop_signal : SIGKILL);
  } else {
    result.command_status = workload_->exit_code();
  }
}

Result<SessionResult> Session::run(process::SignalWatch* signals) {
  SessionResult result;
  const double deadline = options_.duration_s > 0 ? start_time_ + options_.duration_s : 0;
  double grace_end = 0;
  bool duration_ended = false;
  for (;;) {
    const double now = monotonic_seconds();
    if (deadline > 0 && now >= deadline) {
      duration_ended = true;
      break;
    }
    if (grace_end > 0 && now >= grace_end) break;
    double wait_s = 0.2;
    if (deadline > 0) wait_s = std::min(wait_s, deadline - now);
    if (grace_end > 0) wait_s = std::min(wait_s, grace_end - now);
    auto ready = tracer_->wait(signals != nullptr ? signals->fd() : -1,
                               static_cast<int>(std::ceil(wait_s * 1000)));
    if (!ready) return ready.error();
    if (*ready && signals != nullptr && take_signals(*signals, result, grace_end)) break;
    if (targets_gone()) break;
  }
  const double elapsed = monotonic_seconds() - start_time_;
  auto summary = tracer_->finish();
  if (!summary) return summary.error();
  result.summary = std::move(*summary);
  result.summary.elapsed_s = elapsed;
  result.notes = tracer_->notes();
  if (workload_) end_command(result, duration_ended);
  return result;
}

}  // namespace perfscope::syscalls
