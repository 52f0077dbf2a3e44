#include "stat/run_watch.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "core/clock.hpp"

namespace perfscope::stat {

RunWatch::RunWatch(process::SignalWatch& signals, process::Workload* workload,
                   std::vector<UniqueFd> pidfds, std::uint64_t deadline_ns)
    : signals_(signals),
      workload_(workload),
      pidfds_(std::move(pidfds)),
      live_pids_(pidfds_.size()),
      deadline_ns_(deadline_ns) {}

Status RunWatch::wait(std::uint64_t wake_ns, std::span<pollfd> extra) {
  if (over()) return {};
  fds_.assign({{signals_.fd(), POLLIN, 0}});
  for (const auto& p : pidfds_) fds_.push_back({p.valid() ? p.get() : -1, POLLIN, 0});
  const std::size_t extra_base = fds_.size();
  fds_.insert(fds_.end(), extra.begin(), extra.end());

  const std::uint64_t until = std::min(wake_ns, deadline_ns_);
  int timeout_ms = -1;
  if (until != kNoDeadline) {
    const std::uint64_t now = monotonic_ns();
    // Rounded up, so a wake-up never comes early and spins.
    const std::uint64_t left_ms = until > now ? (until - now + 999'999) / 1'000'000 : 0;
    timeout_ms = static_cast<int>(std::min<std::uint64_t>(left_ms, INT32_MAX));
  }
  if (::poll(fds_.data(), fds_.size(), timeout_ms) < 0) {
    if (errno != EINTR) return errno_error("poll");
    for (auto& f : fds_) f.revents = 0;
  }
  for (std::size_t i = 0; i < extra.size(); ++i) extra[i].revents = fds_[extra_base + i].revents;

  if (fds_[0].revents & POLLIN) on_signals();
  for (std::size_t i = 0; i < pidfds_.size(); ++i) {
    if (fds_[1 + i].fd >= 0 && (fds_[1 + i].revents & (POLLIN | POLLHUP))) {
      pidfds_[i].reset();
      if (--live_pids_ == 0 && end_ == End::none) end_ = End::processes_exited;
    }
  }
  if (end_ == End::none && deadline_ns_ != kNoDeadline && monotonic_ns() >= deadline_ns_)
    end_ = End::deadline;
  return {};
}

void RunWatch::on_signals() {
  for (auto sig = signals_.next(); sig.number != 0; sig = signals_.next()) {
    if (sig.number == SIGCHLD) {
      if (workload_ != nullptr && workload_->try_reap() && end_ == End::none)
        end_ = End::command_exited;
    } else if (end_ == End::none) {
      end_ = End::signal;
      signal_ = sig.number;
      from_terminal_ = sig.from_terminal;
    }
  }
}

bool RunWatch::finish() {
  if (workload_ == nullptr || workload_->try_reap()) return true;
  ended_with_ = end_ == End::signal ? signal_ : SIGTERM;
  // kill(pid, 0) sends nothing: the terminal's signal reached the command already.
  return workload_->end(end_ == End::signal && from_terminal_ ? 0 : ended_with_);
}

}  // namespace perfscope::stat
