// OutputFile: where a command writes its result. A regular file is written to a temporary file in
// the same directory and renamed into place by commit(), so the named file is never half-written:
// an error removes the temporary; only a crash can leave a FILE.tmp.XXXXXX beside it. Devices,
// FIFOs and symlinks are written through, not replaced. "-" is standard output; an empty path is
// standard error.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace perfscope {

class OutputFile {
 public:
  static Result<OutputFile> open(const std::string& path);
  OutputFile(OutputFile&& o) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  ~OutputFile();  // discards an uncommitted file

  std::FILE* stream() const { return stream_; }
  // Flushes, syncs and renames into place. For stdout/stderr only flushes.
  Status commit();

 private:
  OutputFile() = default;
  std::FILE* stream_ = nullptr;
  std::string path_;
  std::string temp_path_;
  bool owned_ = false;   // a temporary file, renamed into place by commit()
  bool direct_ = false;  // an existing non-regular file, written in place
};

// Fails early, before work whose result would be lost, when `path` is a directory or its folder
// is not writable. "-" always passes.
Status check_writable(const std::string& path);

// `data` as the whole content of `path`, through OutputFile ("-" is standard output): the one way
// perfscope writes a file, whatever produced the bytes.
Status write_output_file(const std::string& path, std::string_view data);

}  // namespace perfscope
