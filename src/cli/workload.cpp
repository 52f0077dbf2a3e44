#include "cli/workload.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

namespace perfscope::cli {

Workload::Workload(Workload&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      go_(std::move(o.go_)),
      exec_error_(std::move(o.exec_error_)),
      exited_(o.exited_),
      status_(o.status_),
      usage_(o.usage_),
      command_line_(std::move(o.command_line_)),
      program_(std::move(o.program_)) {}

Workload::~Workload() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    reap();
  }
}

std::optional<RunAs> sudo_invoker() {
  if (::geteuid() != 0) return std::nullopt;
  const char* uid = std::getenv("SUDO_UID");
  const char* gid = std::getenv("SUDO_GID");
  if (uid == nullptr || gid == nullptr) return std::nullopt;
  char* end = nullptr;
  const unsigned long u = std::strtoul(uid, &end, 10);
  if (*uid == '\0' || *end != '\0' || u == 0) return std::nullopt;
  const unsigned long g = std::strtoul(gid, &end, 10);
  if (*gid == '\0' || *end != '\0') return std::nullopt;
  return RunAs{static_cast<uid_t>(u), static_cast<gid_t>(g)};
}

Result<Workload> Workload::prepare(const std::vector<std::string>& argv,
                                   std::optional<RunAs> run_as) {
  if (argv.empty()) return Error{"no command given", 0, {}};
  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) < 0) return errno_error("pipe");
  if (::pipe2(err, O_CLOEXEC) < 0) {
    ::close(go[0]);
    ::close(go[1]);
    return errno_error("pipe");
  }
  // Build argv before fork: the child must not allocate.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    auto failure = errno_error("fork");
    for (int fd : {go[0], go[1], err[0], err[1]}) ::close(fd);
    return failure;
  }
  if (pid == 0) {
    ::close(go[1]);
    ::close(err[0]);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    char byte;
    if (::read(go[0], &byte, 1) != 1) ::_exit(127);  // perfscope gave up before starting us
    // Dropping to the invoking user happens last, after perfscope attached its events as root.
    if (!run_as || (::setgroups(0, nullptr) == 0 && ::setgid(run_as->gid) == 0 &&
                    ::setuid(run_as->uid) == 0)) {
      ::execvp(args[0], args.data());
    }
    const int e = errno;
    (void)!::write(err[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(go[0]);
  ::close(err[1]);
  Workload w;
  w.pid_ = pid;
  w.go_.reset(go[1]);
  w.exec_error_.reset(err[0]);
  w.program_ = argv.front();
  for (const auto& a : argv) w.command_line_ += (w.command_line_.empty() ? "" : " ") + a;
  return w;
}

Status Workload::start() {
  const char byte = 1;
  if (::write(go_.get(), &byte, 1) != 1) return errno_error("start " + program_);
  go_.reset();
  int e = 0;
  ssize_t n;
  do {
    n = ::read(exec_error_.get(), &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  exec_error_.reset();
  if (n == static_cast<ssize_t>(sizeof e)) {
    reap();
    std::string hint =
        e == ENOENT   ? "  check the name and PATH (use ./name for a program in this directory)"
        : e == EACCES ? "  the file is not executable by this user (chmod +x?)"
                      : "";
    return Error{"cannot run '" + program_ + "'", e, hint};
  }
  return {};
}

bool Workload::try_reap() {
  if (exited_ || pid_ <= 0) return exited_;
  const pid_t r = ::wait4(pid_, &status_, WNOHANG, &usage_);
  if (r == pid_) exited_ = true;
  return exited_;
}

void Workload::reap() {
  if (exited_ || pid_ <= 0) return;
  pid_t r;
  do {
    r = ::wait4(pid_, &status_, 0, &usage_);
  } while (r < 0 && errno == EINTR);
  exited_ = true;
}

bool Workload::end(int signal) {
  if (exited_ || pid_ <= 0) return true;
  ::kill(pid_, signal);
  for (int waited_ms = 0; waited_ms < kEndGraceSeconds * 1000; waited_ms += 10) {
    if (try_reap()) return true;
    ::usleep(10'000);
  }
  if (try_reap()) return true;
  ::kill(pid_, SIGKILL);
  reap();
  return false;
}

int Workload::exit_code() const {
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return 1;
}

}  // namespace perfscope::cli
