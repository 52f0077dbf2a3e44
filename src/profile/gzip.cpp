#include "profile/gzip.hpp"

#include <zlib.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>

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

GzipInflater::GzipInflater(std::string source)
    : source_(std::move(source)), z_(std::make_unique<z_stream>()) {
  initialised_ = inflateInit2(z_.get(), 16 + MAX_WBITS) == Z_OK;
}

GzipInflater::GzipInflater(GzipInflater&& o) noexcept
    : source_(std::move(o.source_)),
      z_(std::move(o.z_)),
      pending_(o.pending_),
      initialised_(std::exchange(o.initialised_, false)),
      in_member_(o.in_member_),
      more_output_(o.more_output_),
      members_(o.members_) {}

GzipInflater::~GzipInflater() {
  if (initialised_) inflateEnd(z_.get());
}

void GzipInflater::supply(std::string_view compressed) {
  pending_ = compressed;
}

bool GzipInflater::needs_input() const {
  return !initialised_ || (z_->avail_in == 0 && pending_.empty() && !more_output_);
}

Result<std::size_t> GzipInflater::inflate(std::string& out, std::size_t want) {
  if (!initialised_) return Error{"gunzip " + source_ + ": cannot initialise zlib", ENOMEM, {}};
  const std::size_t old = out.size();
  out.resize(old + want);
  std::size_t produced = 0;
  auto fail = [&](Error e) -> Result<std::size_t> {
    out.resize(old + produced);
    return e;
  };
  while (produced < want) {
    if (z_->avail_in == 0 && !pending_.empty()) {
      // zlib counts input in uInt: a larger piece goes in turns.
      const std::size_t n = std::min<std::size_t>(pending_.size(), UINT_MAX);
      z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pending_.data()));
      z_->avail_in = static_cast<uInt>(n);
      pending_.remove_prefix(n);
    }
    if (!in_member_) {
      if (z_->avail_in == 0) break;
      if (members_ > 0) {
        // What follows a member must be another one.
        const Bytef* next = z_->next_in;
        if (next[0] != 0x1f || (z_->avail_in > 1 && next[1] != 0x8b)) {
          return fail(Error{source_ + ": unexpected data after the end of the gzip stream", 0,
                            kDamagedHint});
        }
        inflateReset(z_.get());
      }
      in_member_ = true;
      ++members_;
    }
    z_->next_out = reinterpret_cast<Bytef*>(out.data() + old + produced);
    z_->avail_out = static_cast<uInt>(std::min<std::size_t>(want - produced, UINT_MAX));
    const uInt before = z_->avail_out;
    const int ret = ::inflate(z_.get(), Z_NO_FLUSH);
    produced += before - z_->avail_out;
    // A full output buffer may leave inflated bytes inside zlib for the next call.
    more_output_ = z_->avail_out == 0;
    if (ret == Z_STREAM_END) {
      in_member_ = false;
      more_output_ = false;
      continue;
    }
    if (ret == Z_OK) continue;
    if (ret == Z_BUF_ERROR) {  // no progress: it needs input
      more_output_ = false;
      if (z_->avail_in == 0 && pending_.empty()) break;
      continue;
    }
    if (ret == Z_MEM_ERROR) return fail(Error{"gunzip " + source_, ENOMEM, {}});
    return fail(Error{fmt::format("{}: corrupt gzip data ({})", source_,
                                  z_->msg != nullptr ? z_->msg : "zlib error"),
                      0, kDamagedHint});
  }
  out.resize(old + produced);
  return produced;
}

Status GzipInflater::finish() const {
  if (!initialised_ || in_member_ || z_->avail_in != 0 || !pending_.empty()) {
    return Error{source_ + ": the gzip data ends early (truncated file)", 0, kDamagedHint};
  }
  return {};
}

Result<std::string> gunzip(std::string_view in, const std::string& source, std::size_t max_size) {
  GzipInflater z(source);
  z.supply(in);
  // The last member's trailer holds its size modulo 4 GiB: a good first guess, unless the file is
  // damaged. Deflate cannot expand more than 1032 times, so a larger claim is not believed.
  std::size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const auto* t = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const std::size_t claimed = t[0] | t[1] << 8 | t[2] << 16 | std::size_t{t[3]} << 24;
    if (claimed <= in.size() * 1032) guess = std::max(guess, claimed);
  }
  std::string out;
  out.reserve(std::min(std::max<std::size_t>(guess, 4096), max_size));
  while (true) {
    // Into the room reserved first; past it in steps that double the string.
    const std::size_t room = std::max<std::size_t>(out.capacity() - out.size(), out.size());
    const std::size_t want = std::min(std::max<std::size_t>(room, 4096), max_size + 1 - out.size());
    auto n = z.inflate(out, want);
    if (!n) return n.error();
    if (out.size() > max_size) {
      return Error{
          fmt::format("{}: decompresses to more than {} MiB, too large", source, max_size >> 20),
          EFBIG,
          {}};
    }
    if (*n == 0) break;
  }
  if (auto st = z.finish(); !st) return st.error();
  return out;
}

}  // namespace perfscope::profile
