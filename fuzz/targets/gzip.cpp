// The gzip layer (profile/gzip.cpp): gunzip() in memory, and GzipInflater as InputStream drives it,
// fed in pieces of uneven sizes and drained a little at a time. Both must agree: the same bytes
// out, or both an error. Inflation is bounded (1 MiB), so a gzip bomb is an error, not a crash.
#include <algorithm>
#include <optional>
#include <string>

#include "fuzz_support.hpp"
#include "profile/gzip.hpp"

using namespace perfscope;

namespace {

constexpr std::size_t kMaxOut = std::size_t{1} << 20;

// The streaming inflater over `in`, in pieces of `piece` bytes; nullopt on an error or past
// kMaxOut.
std::optional<std::string> inflate_in_pieces(std::string_view in, std::size_t piece,
                                             std::size_t want) {
  profile::GzipInflater inflater("fuzz.gz (streamed)");
  std::string out;
  while (true) {
    if (inflater.needs_input()) {
      if (in.empty()) break;
      const std::size_t n = std::min(piece, in.size());
      inflater.supply(in.substr(0, n));
      in.remove_prefix(n);
    }
    auto got = inflater.inflate(out, want);
    if (!got) return std::nullopt;
    if (out.size() > kMaxOut) return std::nullopt;
  }
  if (!inflater.finish()) return std::nullopt;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::text(data, size);
  (void)profile::is_gzip(in);
  auto whole = profile::gunzip(in, "fuzz.gz", kMaxOut);
  // Piece sizes from the input's length, so every input is cut in a way of its own.
  const std::size_t piece = 1 + size % 97;
  const std::size_t want = 1 + size % 4093;
  auto streamed = inflate_in_pieces(in, piece, want);
  if (profile::is_gzip(in)) {
    if (whole && streamed) {
      fuzz::require(*whole == *streamed, "gunzip and GzipInflater inflate to the same bytes");
    }
    if (whole && whole->size() <= kMaxOut / 2) {
      fuzz::require(static_cast<bool>(streamed), "what gunzip inflates, GzipInflater inflates");
    }
    if (streamed && streamed->size() <= kMaxOut / 2) {
      fuzz::require(static_cast<bool>(whole), "what GzipInflater inflates, gunzip inflates");
    }
  }
  // What gzip() writes gunzip() reads back.
  const std::string_view plain = whole ? std::string_view(*whole) : in;
  auto packed = profile::gzip(plain.substr(0, std::min<std::size_t>(plain.size(), 4096)), 1);
  fuzz::require(static_cast<bool>(packed), "gzip() compresses any bytes");
  auto unpacked = profile::gunzip(*packed, "fuzz.gz (round trip)", kMaxOut);
  fuzz::require(unpacked && *unpacked == plain.substr(0, std::min<std::size_t>(plain.size(), 4096)),
                "gunzip(gzip(x)) == x");
  return 0;
}
