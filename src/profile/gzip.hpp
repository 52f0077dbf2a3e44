// gzip (zlib): in memory, as pprof files use it, and as a stream for inputs read in pieces.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

struct z_stream_s;

namespace perfscope::profile {

// The hint for a file that is damaged rather than of the wrong kind.
inline constexpr const char* kDamagedHint =
    "  the file is damaged or was cut short (was the recording killed?); record it again";

// Starts with the gzip magic bytes.
bool is_gzip(std::string_view bytes);

// One gzip member, with no file name and mtime 0, so equal input gives equal bytes.
Result<std::string> gzip(std::string_view in, int level);

// Every member of `in` (gzip allows several), concatenated; an Error when the result would exceed
// max_size bytes, or for a truncated or corrupt stream. `source` names the data in errors.
Result<std::string> gunzip(std::string_view in, const std::string& source, std::size_t max_size);

// gunzip a piece at a time: give it compressed bytes with supply(), take inflated bytes with
// inflate(), so a reader holds one piece of each however large the data inflates. Every member of
// a multi-member stream is inflated in turn. Move-only; owns its zlib state.
class GzipInflater {
 public:
  // `source` names the data in errors.
  explicit GzipInflater(std::string source);
  GzipInflater(GzipInflater&&) noexcept;
  GzipInflater& operator=(GzipInflater&&) = delete;
  ~GzipInflater();

  // The next compressed bytes. They are not copied: they must stay as they are until
  // needs_input() is true again.
  void supply(std::string_view compressed);
  // All bytes supplied so far are inflated (or held in zlib's window, given out by inflate()).
  bool needs_input() const;
  // Appends at most `want` inflated bytes to `out` and returns how many; 0 when it needs input.
  // An Error for corrupt data, or for data after a member's end that is not another member.
  Result<std::size_t> inflate(std::string& out, std::size_t want);
  // The compressed input has ended: an Error when it ended inside a member (a truncated file).
  Status finish() const;

 private:
  std::string source_;
  std::unique_ptr<z_stream_s> z_;
  std::string_view pending_;  // supplied, not yet handed to zlib
  bool initialised_ = false;
  bool in_member_ = false;    // a member has started and not ended
  bool more_output_ = false;  // the last inflate() filled its buffer: zlib may hold more
  std::size_t members_ = 0;   // members started
};

}  // namespace perfscope::profile
