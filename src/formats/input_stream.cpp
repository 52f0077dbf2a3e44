#include "formats/input_stream.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace perfscope::formats {
namespace {

// How much of the file one read(2) asks for.
constexpr std::size_t kRawChunk = 1u << 16;

}  // namespace

Result<InputStream> InputStream::open(const std::string& path, std::string name) {
  if (path == "-") return InputStream(UniqueFd(), STDIN_FILENO, std::move(name));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("cannot open " + path);
  const int raw = fd.get();
  return InputStream(std::move(fd), raw, std::move(name));
}

std::size_t InputStream::size_hint() const {
  struct stat st {};
  if (!started_ || gzip_ || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
    return 0;
  return static_cast<std::size_t>(st.st_size);
}

MappedRegion InputStream::map_whole() const {
  const std::size_t size = owned_ ? size_hint() : 0;
  if (size == 0) return {};
  // MAP_POPULATE maps every page at once: one fault per page would cost more than the reading.
  auto region = MappedRegion::map(fd_, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, 0, "mmap");
  return region ? std::move(*region) : MappedRegion();
}

Result<std::size_t> InputStream::read_raw(std::string& buf, std::size_t want) {
  const std::size_t old = buf.size();
  buf.resize(old + want);
  while (true) {
    const ssize_t n = ::read(fd_, buf.data() + old, want);
    if (n >= 0) {
      buf.resize(old + static_cast<std::size_t>(n));
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) {
      buf.resize(old);
      return errno_error("cannot read " + name_);
    }
  }
}

Status InputStream::start() {
  started_ = true;
  // gzip's magic is two bytes; a pipe may give them one at a time.
  while (raw_.size() < 2) {
    auto n = read_raw(raw_, kRawChunk);
    if (!n) return n.error();
    if (*n == 0) break;
  }
  if (profile::is_gzip(raw_)) {
    gzip_.emplace(name_);
    gzip_->supply(raw_);
  }
  return {};
}

Result<std::size_t> InputStream::read(std::string& buf, std::size_t want) {
  if (!started_) {
    if (auto st = start(); !st) return st.error();
  }
  if (!gzip_) {
    if (raw_used_ < raw_.size()) {
      const std::size_t n = std::min(want, raw_.size() - raw_used_);
      buf.append(raw_, raw_used_, n);
      raw_used_ += n;
      return n;
    }
    return read_raw(buf, want);
  }
  while (true) {
    auto n = gzip_->inflate(buf, want);
    if (!n || *n > 0) return n;
    // Inflated all it was given: the next compressed piece (raw_ is free again).
    raw_.clear();
    auto got = read_raw(raw_, kRawChunk);
    if (!got) return got.error();
    if (*got == 0) {
      if (auto st = gzip_->finish(); !st) return st.error();
      return std::size_t{0};
    }
    gzip_->supply(raw_);
  }
}

Status InputStream::read_up_to(std::string& buf, std::size_t size) {
  while (buf.size() < size) {
    auto n = read(buf, size - buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
  }
  return {};
}

}  // namespace perfscope::formats
