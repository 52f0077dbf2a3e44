#include "scenario/run_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <utility>

#include "core/files.hpp"

namespace perfscope::scenario {

Result<RunLog> RunLog::open(const std::string& path) {
  RunLog log;
  log.fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log.fd_) return errno_error("create " + path);
  log.path_ = path;
  return log;
}

Status RunLog::append(const std::string& prefix, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += prefix + l + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("write " + path_);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::string RunLog::tail(std::size_t lines) const {
  auto text = read_text_file(path_);
  if (!text) return {};
  std::vector<std::string> all;
  std::istringstream in(*text);
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

Result<ChildStdio> ChildStdio::redirect(const RunLog& log) {
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) return errno_error("open /dev/null");
  std::fflush(stdout);
  std::fflush(stderr);
  ChildStdio c;
  const int to[3] = {null.get(), log.fd(), log.fd()};
  for (int fd = 0; fd < 3; ++fd) {
    c.saved_[fd].reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!c.saved_[fd]) {
      if (errno != EBADF) return errno_error("redirect the command's output");
      c.was_closed_[fd] = true;
    }
    if (::dup2(to[fd], fd) < 0) return errno_error("redirect the command's output");
  }
  return c;
}

ChildStdio::ChildStdio(ChildStdio&& o) noexcept
    : saved_{std::move(o.saved_[0]), std::move(o.saved_[1]), std::move(o.saved_[2])},
      was_closed_{std::exchange(o.was_closed_[0], false), std::exchange(o.was_closed_[1], false),
                  std::exchange(o.was_closed_[2], false)} {}

ChildStdio::~ChildStdio() {
  for (int fd = 0; fd < 3; ++fd) {
    if (saved_[fd]) ::dup2(saved_[fd].get(), fd);
    if (was_closed_[fd]) ::close(fd);
  }
}

}  // namespace perfscope::scenario
