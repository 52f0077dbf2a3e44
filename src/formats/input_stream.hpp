// InputStream: the bytes of an input file or standard input, read a piece at a time, through gzip
// when the input starts with gzip's magic bytes (so every format may come compressed).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/mapped_region.hpp"
#include "core/unique_fd.hpp"
#include "profile/gzip.hpp"

namespace perfscope::formats {

class InputStream {
 public:
  // `path` "-" is standard input (read, never closed). `name` names the input in errors.
  static Result<InputStream> open(const std::string& path, std::string name);

  // Appends at most `want` bytes (inflated, when the input is gzip) to `buf` and returns how many;
  // 0 at the end of the input. Errors for a failed read or damaged gzip data.
  Result<std::size_t> read(std::string& buf, std::size_t want);
  // Reads into `buf` until it holds at least `size` bytes or the input ends.
  Status read_up_to(std::string& buf, std::size_t size);
  // The size of a plain (not gzip) regular file, 0 when unknown: lets a caller reading it whole
  // reserve once instead of growing its buffer a chunk at a time.
  std::size_t size_hint() const;
  // The whole file mapped read-only (and read ahead), for a plain regular file opened by path; an
  // invalid region otherwise (standard input, gzip, a pipe), when the caller reads it instead.
  MappedRegion map_whole() const;

 private:
  InputStream(UniqueFd owned, int fd, std::string name)
      : owned_(std::move(owned)), fd_(fd), name_(std::move(name)) {}
  // Appends at most `want` bytes of the file itself to `buf`; 0 at its end.
  Result<std::size_t> read_raw(std::string& buf, std::size_t want);
  // The first bytes, to see whether they are gzip's.
  Status start();

  UniqueFd owned_;  // empty for standard input
  int fd_ = -1;
  std::string name_;
  bool started_ = false;
  std::string raw_;           // bytes of the file read but not yet given out (or inflated)
  std::size_t raw_used_ = 0;  // of raw_, given out already (plain input only)
  std::optional<profile::GzipInflater> gzip_;
};

}  // namespace perfscope::formats
