// HeldChild: a test target forked and held before exec, so a test can attach counters to its pid
// with enable_on_exec and then release it (the same protocol `perfscope stat` uses).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace perfscope::testing {

class HeldChild {
 public:
  explicit HeldChild(const std::vector<std::string>& argv);
  ~HeldChild();
  HeldChild(const HeldChild&) = delete;
  HeldChild& operator=(const HeldChild&) = delete;

  pid_t pid() const { return pid_; }
  void release();        // lets it exec
  int wait();            // exit status (or 128 + signal)
  std::string output();  // its standard output, read after wait()

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  int out_ = -1;
  bool waited_ = false;
};

}  // namespace perfscope::testing
