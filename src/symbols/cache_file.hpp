// What the symbol layer's on-disk caches share (kallsyms_cache.hpp, symbol_cache.hpp): one
// user's private files under ~/.cache/perfscope, checksummed, written atomically.
//
// A cache file is read only when it is a regular file (no symbolic link is followed), owned by
// the reader's effective uid and private (no group or other permission bits); it is written
// under a temporary name in a directory created mode 0700, then renamed over, so a reader sees
// the old file or the new one, never a part. The common header (magic, version, size, checksum)
// is checked here (checked_body); each cache checks the identity and layout of what follows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "core/mapped_region.hpp"

namespace perfscope::symbols::cache_file {

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ULL);

// The caches' checksum: FNV-1a's step over 8-byte words (a byte at a time costs 20 ms on a 5 MB
// table), the tail bytes one by one, then the length.
std::uint64_t checksum(std::string_view bytes);

// Little helpers for the native-endian layouts the caches write (a cache never leaves its host).
template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_string(std::string& out, std::string_view s);  // u32 length, bytes

// Each reads from the front of `in` and advances it; false (and `in` unspecified) when short.
template <typename T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
bool get_string(std::string_view& in, std::string& s);

// Every cache file begins with the same 24-byte header: a 4-byte magic naming the cache, a u32
// layout version, the u64 size of the whole file and the u64 checksum of everything after the
// header. `framed` puts it before `body`; `checked_body` gives what follows it when all four
// match, nothing otherwise.
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 8;
std::string framed(const char (&magic)[4], std::uint32_t version, std::string_view body);
std::optional<std::string_view> checked_body(std::string_view bytes, const char (&magic)[4],
                                             std::uint32_t version);

// A file's bytes, mapped whole (read-only, private). Only its owner can cut the file short under
// the mapping (writers replace a cache file by rename, never in place).
struct Bytes {
  MappedRegion region;
  std::string_view view() const { return {static_cast<const char*>(region.data()), region.size()}; }
};

// The whole of `path` when it passes the ownership checks above and its size is within
// [min_bytes, max_bytes]; nothing otherwise.
std::optional<Bytes> read_private(const std::string& path, std::size_t min_bytes,
                                  std::uint64_t max_bytes);

// Writes `bytes` to `path` as above (missing directories created 0700, file 0600). False when it
// could not be written.
bool write_private(const std::string& path, std::string_view bytes);

// Removes the files of `dir` whose names start with `prefix` and end with `suffix`, owned by the
// reader, except `keep` (a name): the caches of identities that will not come back.
void remove_others(const std::string& dir, std::string_view prefix, std::string_view suffix,
                   std::string_view keep);

// The directory a cache lives in: the environment variable `env` when set ("off": empty, no
// cache), else $XDG_CACHE_HOME/perfscope/SUBDIR, else $HOME/.cache/perfscope/SUBDIR; empty when
// none of them is set.
std::string default_dir(const char* env, std::string_view subdir);

}  // namespace perfscope::symbols::cache_file
