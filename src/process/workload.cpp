#include "process/workload.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace perfscope::process {

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

namespace {

// What the child needs to become the invoking user, gathered before fork: the child may not
// allocate or read /etc files (another thread could hold a lock in the copied address space).
struct Identity {
  RunAs ids;
  std::vector<gid_t> groups;
  std::string home, user;
};

std::optional<Identity> invoking_identity() {
  auto ids = sudo_invoker();
  if (!ids) return std::nullopt;
  Identity who{*ids, {}, {}, {}};
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(ids->uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    who.home = pw.pw_dir;
    who.user = pw.pw_name;
    int n = 64;
    who.groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(pw.pw_name, ids->gid, who.groups.data(), &n) < 0) {
      who.groups.resize(static_cast<std::size_t>(n));
      ::getgrouplist(pw.pw_name, ids->gid, who.groups.data(), &n);
    }
    who.groups.resize(static_cast<std::size_t>(std::max(n, 0)));
  }
  if (who.groups.empty()) who.groups.push_back(ids->gid);
  return who;
}

// perfscope's environment with `set` applied, as the strings execve takes.
std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& set) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    const bool replaced =
        std::any_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  return env;
}

// What to do about an errno of execvpe.
std::string exec_hint(int e) {
  return e == ENOENT   ? "  check the name and PATH (use ./name for a program in this directory)"
         : e == EACCES ? "  the file is not executable by this user (chmod +x?)"
                       : "";
}

// The error execvpe would give for a program that is missing or not executable, found before
// anything else is opened: a command that cannot run must not cost an output file (monitor opens
// its outputs before the command starts). 0 when the program may run; execvpe still decides.
int program_error(const std::string& program) {
  const auto check = [](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno == ENOTDIR ? ENOENT : errno;
    return S_ISDIR(st.st_mode) || ::access(path.c_str(), X_OK) != 0 ? EACCES : 0;
  };
  if (program.find('/') != std::string::npos) return check(program);
  // execvpe searches the caller's PATH (not the child's environment), "/bin:/usr/bin" without one.
  const char* env = std::getenv("PATH");
  const std::string_view path = env != nullptr ? env : "/bin:/usr/bin";
  int found = ENOENT;
  std::size_t at = 0;
  while (at <= path.size()) {
    const auto colon = std::min(path.find(':', at), path.size());
    const std::string_view dir = path.substr(at, colon - at);
    const int e = check((dir.empty() ? std::string(".") : std::string(dir)) + "/" + program);
    if (e == 0) return 0;
    if (e == EACCES) found = EACCES;
    at = colon + 1;
  }
  return found;
}

}  // namespace

Result<Workload> Workload::prepare(const std::vector<std::string>& argv,
                                   const WorkloadOptions& options) {
  if (argv.empty()) return Error{"no command given", 0, {}};
  if (argv.front().empty()) return Error{"cannot run ''", ENOENT, exec_hint(ENOENT)};
  const std::optional<Identity> who = options.as_invoking_user ? invoking_identity() : std::nullopt;
  // Run as another user (sudo's), the program's permissions are that user's to judge, not
  // perfscope's: root may be refused where the user is not (NFS with root_squash, FUSE mounts).
  // Then only a program found nowhere is refused here.
  if (const int e = program_error(argv.front()); e == ENOENT || (e != 0 && !who)) {
    return Error{"cannot run '" + argv.front() + "'", e, exec_hint(e)};
  }
  auto settings = options.environment;
  if (who && !who->home.empty()) {
    settings.emplace_back("HOME", who->home);
    settings.emplace_back("USER", who->user);
    settings.emplace_back("LOGNAME", who->user);
  }
  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) < 0) return errno_error("pipe");
  if (::pipe2(err, O_CLOEXEC) < 0) {
    ::close(go[0]);
    ::close(go[1]);
    return errno_error("pipe");
  }
  // Build argv, the environment and the PATH search before fork: the child must not allocate.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> env_strings = child_environment(settings);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();

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
    ::signal(SIGHUP, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    char byte;
    if (::read(go[0], &byte, 1) != 1) ::_exit(127);  // perfscope gave up before starting us
    // Dropping to the invoking user happens last, after perfscope attached its events as root.
    bool ok = true;
    if (who) {
      ok = ::setgroups(who->groups.size(), who->groups.data()) == 0 &&
           ::setgid(who->ids.gid) == 0 && ::setuid(who->ids.uid) == 0;
    }
    // Set after the change of user, which clears it; the parent may already be gone by then.
    if (ok && (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent)) ::_exit(127);
    if (ok) ::execvpe(args[0], args.data(), envp.data());
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
    return Error{"cannot run '" + program_ + "'", e, exec_hint(e)};
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

}  // namespace perfscope::process
