// logs/TYPE.log of a scenario run: the command's standard output and error, then what perfscope
// had to say about the run. Internal to scenario/.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::scenario {

class RunLog {
 public:
  // Creates (or appends to) `path`.
  static Result<RunLog> open(const std::string& path);
  int fd() const { return fd_.get(); }
  // Each line after `prefix` ("perfscope mem: "), with a newline.
  Status append(const std::string& prefix, const std::vector<std::string>& lines);
  // The last `lines` lines, each indented by four spaces (for an error's hint).
  std::string tail(std::size_t lines) const;

 private:
  RunLog() = default;
  UniqueFd fd_;
  std::string path_;
};

// While alive, this process's standard input is /dev/null and its standard output and error are
// `log`: a command forked meanwhile (the libraries' open() prepares it, held before exec) inherits
// them, and keeps them after this is gone. Stdio buffers are flushed first. Only for the moment of
// a fork: process::WorkloadOptions cannot give a child its own standard streams yet. Nothing may
// print meanwhile (the libraries never do).
class ChildStdio {
 public:
  static Result<ChildStdio> redirect(const RunLog& log);
  ChildStdio(ChildStdio&& o) noexcept;
  ChildStdio& operator=(ChildStdio&&) = delete;
  ~ChildStdio();  // puts this process's own streams back

 private:
  ChildStdio() = default;
  UniqueFd saved_[3];
  bool was_closed_[3] = {false, false, false};  // closed again, not restored
};

}  // namespace perfscope::scenario
