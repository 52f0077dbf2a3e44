#include "cli/output_file.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace perfscope::cli {

Result<OutputFile> OutputFile::open(const std::string& path) {
  OutputFile out;
  if (path.empty() || path == "-") {
    out.stream_ = path.empty() ? stderr : stdout;
    return out;
  }
  std::string temp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return errno_error("cannot create output file " + path,
                       "  check that the directory exists and is writable");
  }
  ::fchmod(fd, 0644);
  out.stream_ = ::fdopen(fd, "w");
  out.path_ = path;
  out.temp_path_ = temp;
  out.owned_ = true;
  return out;
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : stream_(std::exchange(o.stream_, nullptr)),
      path_(std::move(o.path_)),
      temp_path_(std::move(o.temp_path_)),
      owned_(std::exchange(o.owned_, false)) {}

OutputFile::~OutputFile() {
  if (owned_ && stream_ != nullptr) {
    std::fclose(stream_);
    ::unlink(temp_path_.c_str());
  }
}

Status OutputFile::commit() {
  if (!owned_) {
    std::fflush(stream_);
    return {};
  }
  const bool ok = std::fflush(stream_) == 0 && ::fsync(::fileno(stream_)) == 0;
  const int e = errno;
  std::fclose(stream_);
  stream_ = nullptr;
  owned_ = false;
  if (!ok || ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    errno = ok ? errno : e;
    auto err = errno_error("cannot write output file " + path_);
    ::unlink(temp_path_.c_str());
    return err;
  }
  return {};
}

}  // namespace perfscope::cli
