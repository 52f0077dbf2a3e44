// gzip in memory (zlib), as pprof files use it. Internal to profile/.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"

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

}  // namespace perfscope::profile
