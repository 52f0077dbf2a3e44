#include "profile/gzip.hpp"

#include <zlib.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace perfscope::profile {

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

Result<std::string> gzip(std::string_view in, int level) {
  if (in.size() > UINT_MAX / 2) return Error{"gzip: input too large", EFBIG, {}};
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Error{"gzip: cannot initialise zlib", ENOMEM, {}};
  }
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int ret = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (ret != Z_STREAM_END) return Error{fmt::format("gzip: zlib error {}", ret), 0, {}};
  return out;
}

Result<std::string> gunzip(std::string_view in, const std::string& source, std::size_t max_size) {
  if (in.size() > UINT_MAX) return Error{source + ": too large to decompress", EFBIG, {}};
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    return Error{"gunzip " + source + ": cannot initialise zlib", ENOMEM, {}};
  }
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  // The last member's trailer holds its size modulo 4 GiB: a good first guess, unless the file is
  // damaged. Deflate cannot expand more than 1032 times, so a larger claim is not believed.
  std::size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const auto* t = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const std::size_t claimed = t[0] | t[1] << 8 | t[2] << 16 | std::size_t{t[3]} << 24;
    if (claimed <= in.size() * 1032) guess = std::max(guess, claimed);
  }
  std::string out(std::min(std::max<std::size_t>(guess, 4096), max_size), '\0');
  std::size_t produced = 0;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= max_size) {
        return Error{
            fmt::format("{}: decompresses to more than {} MiB, too large", source, max_size >> 20),
            EFBIG,
            {}};
      }
      out.resize(std::min(out.size() * 2, max_size));
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, UINT_MAX));
    const uInt before = z.avail_out;
    const int ret = inflate(&z, Z_NO_FLUSH);
    produced += before - z.avail_out;
    if (ret == Z_STREAM_END) {
      const std::string_view rest(reinterpret_cast<const char*>(z.next_in), z.avail_in);
      if (rest.empty()) break;
      if (!is_gzip(rest)) {
        return Error{source + ": unexpected data after the end of the gzip stream", 0,
                     kDamagedHint};
      }
      inflateReset(&z);
      continue;
    }
    if (ret == Z_OK || (ret == Z_BUF_ERROR && z.avail_out == 0)) continue;
    if (ret == Z_BUF_ERROR) {
      return Error{source + ": the gzip data ends early (truncated file)", 0, kDamagedHint};
    }
    if (ret == Z_MEM_ERROR) return Error{"gunzip " + source, ENOMEM, {}};
    return Error{fmt::format("{}: corrupt gzip data ({})", source, z.msg ? z.msg : "zlib error"), 0,
                 kDamagedHint};
  }
  out.resize(produced);
  return out;
}

}  // namespace perfscope::profile
