// SignalWatch: SIGINT, SIGTERM, SIGHUP and SIGCHLD as readable events on one fd, for commands that
// wait in poll(2) for a workload, a timer and signals at once.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <utility>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "process/stop_source.hpp"

namespace perfscope::process {

// Blocks SIGINT/SIGTERM/SIGHUP/SIGCHLD for the lifetime of a run (stat, monitor) and reads them
// from a signalfd. SIGCHLD's disposition is reset to default meanwhile: inherited as SIG_IGN, the
// kernel would reap the command itself and never report its exit.
class SignalWatch {
 public:
  struct Signal {
    int number = 0;
    bool from_terminal = false;  // sent by the kernel (tty Ctrl-C), not by kill()
  };

  static Result<SignalWatch> create() {
    SignalWatch w;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &dfl, &w.old_chld_);
    ::sigprocmask(SIG_BLOCK, &set, &w.old_mask_);
    w.armed_ = true;
    w.fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!w.fd_) return errno_error("signalfd");
    return w;
  }
  SignalWatch(SignalWatch&& o) noexcept
      : old_mask_(o.old_mask_),
        old_chld_(o.old_chld_),
        fd_(std::move(o.fd_)),
        armed_(std::exchange(o.armed_, false)) {}
  SignalWatch& operator=(SignalWatch&&) = delete;
  ~SignalWatch() {
    if (!armed_) return;
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
  }
  int fd() const { return fd_.get(); }
  // The next pending signal; number 0 when none.
  Signal next() {
    signalfd_siginfo info;
    if (::read(fd_.get(), &info, sizeof info) != sizeof info) return {};
    return {static_cast<int>(info.ssi_signo), info.ssi_code == SI_KERNEL};
  }
  // The next pending stop signal (SIGINT, SIGTERM, SIGHUP), skipping SIGCHLD; 0 when none.
  int next_stop() {
    for (Signal s = next(); s.number != 0; s = next()) {
      if (s.number != SIGCHLD) return s.number;
    }
    return 0;
  }
  // A StopSource over this watch, for Recorder::run, Tracker::run and the like. The watch must
  // outlive it.
  StopSource stop_source() {
    return {fd(), [this] { return next_stop(); }};
  }

 private:
  SignalWatch() = default;
  sigset_t old_mask_{};
  struct sigaction old_chld_ {};
  UniqueFd fd_;
  bool armed_ = false;
};

}  // namespace perfscope::process
