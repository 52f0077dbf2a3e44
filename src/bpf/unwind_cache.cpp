#include "bpf/unwind_cache.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <utility>

#include "symbols/cache_file.hpp"

namespace perfscope::bpf::unwind_cache {
namespace {

namespace cache_file = symbols::cache_file;

// The file is named by a hash of the identity; the identity in the body makes a file whose name
// collides with another's unusable rather than wrong. What is read back is checked (header,
// checksum, counts, sorted rows); a bad file is ignored and rewritten.
constexpr char kCacheMagic[4] = {'P', 'S', 'U', 'T'};
constexpr std::uint32_t kCacheVersion = 2;
constexpr std::uint64_t kCacheBytes = std::uint64_t{512} << 20;
constexpr std::uint64_t kMaxCachedRows = std::uint64_t{64} << 20;
constexpr std::uint64_t kMaxCachedSegments = 1024;
constexpr std::uint64_t kMaxIdentityBytes = 4096;
constexpr std::uint64_t kMaxCacheFileBytes = cache_file::kHeaderBytes + 4 + kMaxIdentityBytes + 8 +
                                             kMaxCachedSegments * 5 * 8 + 8 +
                                             kMaxCachedRows * sizeof(ps_kernel_row);

// The identity of the file at `path` as it is now; empty when it cannot be stat'ed.
std::string identity_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return fmt::format("{}|{}|{}.{}|{}|{}", path, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                     static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino));
}

std::string cache_file_name(const std::string& dir, std::string_view identity) {
  return fmt::format("{}/{:016x}.rows", dir, cache_file::fnv1a(identity));
}

// Keeps the directory under its bound: the least recently written files go.
void trim_cache(const std::string& dir) {
  std::error_code ec;
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec) || e.path().extension() != ".rows") continue;
    total += e.file_size(ec);
    files.emplace_back(e.last_write_time(ec), e.path());
  }
  if (total <= kCacheBytes) return;
  std::sort(files.begin(), files.end());
  for (const auto& [when, path] : files) {
    if (total <= kCacheBytes) break;
    const auto size = std::filesystem::file_size(path, ec);
    if (std::filesystem::remove(path, ec)) total -= std::min<std::uint64_t>(total, size);
  }
}

}  // namespace

std::optional<Table> parse(std::string_view bytes, std::string_view identity) {
  const auto body = cache_file::checked_body(bytes, kCacheMagic, kCacheVersion);
  if (!body) return std::nullopt;
  std::string_view in = *body;
  std::string stored;
  std::uint64_t nseg = 0, nrows = 0;
  if (!cache_file::get_string(in, stored) || stored != identity) return std::nullopt;
  if (!cache_file::get(in, nseg) || nseg > kMaxCachedSegments) return std::nullopt;
  Table out;
  out.segments.resize(nseg);
  for (auto& seg : out.segments) {
    std::uint64_t f[5];
    for (auto& v : f) {
      if (!cache_file::get(in, v)) return std::nullopt;
    }
    if (f[4] > 1) return std::nullopt;
    seg = unwind::LoadSegment{f[0], f[1], f[2], f[3], f[4] != 0};
  }
  if (!cache_file::get(in, nrows) || nrows == 0 || nrows > kMaxCachedRows ||
      in.size() != nrows * sizeof(ps_kernel_row)) {
    return std::nullopt;
  }
  out.rows.resize(nrows);
  std::memcpy(out.rows.data(), in.data(), in.size());
  for (std::size_t i = 1; i < out.rows.size(); ++i) {
    if (out.rows[i].pc <= out.rows[i - 1].pc) return std::nullopt;
  }
  return out;
}

std::optional<Table> read(const std::string& dir, const std::string& path) {
  if (dir.empty()) return std::nullopt;
  const std::string identity = identity_of(path);
  if (identity.empty()) return std::nullopt;
  const auto bytes = cache_file::read_private(cache_file_name(dir, identity),
                                              cache_file::kHeaderBytes, kMaxCacheFileBytes);
  if (!bytes) return std::nullopt;
  return parse(bytes->view(), identity);
}

std::string encode(std::string_view identity, const Table& t) {
  std::string body;
  body.reserve(64 + identity.size() + t.segments.size() * 40 +
               t.rows.size() * sizeof(ps_kernel_row));
  cache_file::put_string(body, identity);
  cache_file::put<std::uint64_t>(body, t.segments.size());
  for (const auto& seg : t.segments) {
    for (const std::uint64_t v :
         {seg.offset, seg.vaddr, seg.filesz, seg.memsz, std::uint64_t{seg.executable ? 1U : 0U}}) {
      cache_file::put(body, v);
    }
  }
  cache_file::put<std::uint64_t>(body, t.rows.size());
  body.append(reinterpret_cast<const char*>(t.rows.data()), t.rows.size() * sizeof(ps_kernel_row));
  return cache_file::framed(kCacheMagic, kCacheVersion, body);
}

bool write(const std::string& dir, const std::string& path, const Table& t) {
  if (dir.empty() || t.rows.empty() || t.rows.size() > kMaxCachedRows ||
      t.segments.size() > kMaxCachedSegments) {
    return false;
  }
  const std::string identity = identity_of(path);
  if (identity.empty() || identity.size() > kMaxIdentityBytes) return false;
  if (!cache_file::write_private(cache_file_name(dir, identity), encode(identity, t))) {
    return false;
  }
  // Trimming lists the whole directory (thousands of files, two stats each): on this process's
  // first write and every 32nd after, so the bound holds within 32 tables a run.
  static std::atomic<unsigned> writes{0};
  if (writes.fetch_add(1, std::memory_order_relaxed) % 32 == 0) trim_cache(dir);
  return true;
}

}  // namespace perfscope::bpf::unwind_cache
