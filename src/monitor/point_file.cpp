#include "monitor/point_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "monitor/format.hpp"

namespace perfscope::monitor {

Result<PointFile> PointFile::open(const OutputSpec& spec) {
  PointFile f;
  f.spec_ = spec;
  if (spec.path == "-") {
    f.fd_ = STDOUT_FILENO;
  } else {
    f.owned_.reset(::open(spec.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!f.owned_) {
      return errno_error("cannot create " + spec.path,
                         "  check that the directory exists and is writable");
    }
    f.fd_ = f.owned_.get();
  }
  if (spec.kind == OutputSpec::Kind::csv) f.buffer_ = csv_header();
  return f;
}

void PointFile::add(std::span<const Point> points, const std::vector<Series>& series) {
  if (spec_.kind == OutputSpec::Kind::csv) {
    append_csv(points, series, buffer_);
  } else {
    append_jsonl(points, series, buffer_);
  }
  written_ += points.size();
}

Status PointFile::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto failed = errno_error("cannot write to " +
                                (spec_.path == "-" ? std::string("standard output") : spec_.path));
      buffer_.erase(0, done);  // what was written is not written again by the next flush
      return failed;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return {};
}

Status PointFile::close() {
  if (auto st = flush(); !st) return st;
  if (owned_ && ::close(owned_.release()) != 0) return errno_error("cannot write to " + spec_.path);
  return {};
}

}  // namespace perfscope::monitor
