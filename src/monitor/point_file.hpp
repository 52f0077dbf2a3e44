// PointFile: a csv: or jsonl: output of `monitor`, written as the run goes (a flush every
// --flush-interval appends whole lines with one write(2)), so the file can be followed while
// monitor runs. Not core/output_file.hpp's write-then-rename: that would show nothing until the
// end, and lose everything to a SIGKILL. "-" is standard output.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "monitor/output_spec.hpp"
#include "monitor/series.hpp"

namespace perfscope::monitor {

class PointFile {
 public:
  // Creates (or truncates) the file; a CSV file gets its header with the first flush.
  static Result<PointFile> open(const OutputSpec& spec);

  // Formats `points` into the buffer; nothing is written until flush().
  void add(std::span<const Point> points, const std::vector<Series>& series);
  // Writes the buffer whole; a failed write (a full disk, a closed pipe) is an error.
  Status flush();
  // Flushes, and closes a file (never standard output); close(2) errors are reported too.
  Status close();

  const OutputSpec& spec() const { return spec_; }
  std::size_t written() const { return written_; }  // points so far

 private:
  PointFile() = default;
  OutputSpec spec_;
  UniqueFd owned_;
  int fd_ = -1;
  std::string buffer_;
  std::size_t written_ = 0;
};

}  // namespace perfscope::monitor
