#include "support/child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace perfscope::testing {

HeldChild::HeldChild(const std::vector<std::string>& argv) {
  int go[2], out[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    char b;
    if (::read(go[0], &b, 1) != 1) ::_exit(127);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(go[0]);
  ::close(out[1]);
  go_ = go[1];
  out_ = out[0];
}

HeldChild::~HeldChild() {
  if (pid_ > 0 && !waited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (go_ >= 0) ::close(go_);
  if (out_ >= 0) ::close(out_);
}

void HeldChild::release() {
  const char b = 1;
  (void)!::write(go_, &b, 1);
  ::close(go_);
  go_ = -1;
}

int HeldChild::wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  waited_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string HeldChild::output() {
  std::string s;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(out_, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

}  // namespace perfscope::testing
