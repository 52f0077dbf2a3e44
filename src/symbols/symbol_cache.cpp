#include "symbols/symbol_cache.hpp"

#include <elf.h>
#include <fmt/format.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

#include "symbols/cache_file.hpp"

namespace perfscope::symbols {
namespace {

using cache_file::get;
using cache_file::get_string;
using cache_file::put;
using cache_file::put_string;

constexpr char kMagic[4] = {'P', 'S', 'S', 'Y'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{256} << 20;
// More frames than any inline chain has: a count past it is not one this code wrote.
constexpr std::uint32_t kMaxFramesPerAddress = 4096;
constexpr std::uint8_t kInlined = 1, kResolved = 2;

void put_stamp(std::string& out, const FileStamp& s) {
  put(out, s.device);
  put(out, s.inode);
  put(out, s.size);
  put(out, s.mtime_ns);
}

bool get_stamp(std::string_view& in, FileStamp& s) {
  return get(in, s.device) && get(in, s.inode) && get(in, s.size) && get(in, s.mtime_ns);
}

std::string key_bytes(const SymbolCacheKey& key) {
  std::string out;
  put_string(out, key.build_id);
  put_stamp(out, key.file);
  put_string(out, key.debug_file);
  put_stamp(out, key.debug);
  put(out, static_cast<std::uint8_t>((key.inline_frames ? 1 : 0) | (key.line_numbers ? 2 : 0)));
  put_string(out, key.program_id);
  put(out, key.uid);
  return out;
}

bool get_key(std::string_view& in, SymbolCacheKey& key) {
  std::uint8_t flags = 0;
  if (!get_string(in, key.build_id) || !get_stamp(in, key.file) ||
      !get_string(in, key.debug_file) || !get_stamp(in, key.debug) || !get(in, flags) ||
      flags > 3 || !get_string(in, key.program_id) || !get(in, key.uid)) {
    return false;
  }
  key.inline_frames = (flags & 1) != 0;
  key.line_numbers = (flags & 2) != 0;
  return true;
}

std::string build_id_of_program() {
  std::string hex;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) -> int {
        // The first object is the executable itself.
        auto& id = *static_cast<std::string*>(out);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
          std::size_t at = 0;
          const auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
          while (ph.p_memsz - at >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) note;
            std::memcpy(&note, p + at, sizeof note);
            at += sizeof note;
            const std::size_t name = align4(note.n_namesz), desc = align4(note.n_descsz);
            if (name > ph.p_memsz - at || desc > ph.p_memsz - at - name) break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
                std::memcmp(p + at, "GNU", 4) == 0) {
              for (std::size_t k = 0; k < note.n_descsz; ++k) {
                id += fmt::format("{:02x}", p[at + name + k]);
              }
              return 1;
            }
            at += name + desc;
          }
        }
        return 1;
      },
      &hex);
  return hex;
}

}  // namespace

std::optional<FileStamp> file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
                       static_cast<std::uint64_t>(st.st_mtim.tv_nsec)};
}

std::string default_symbol_cache_dir() {
  return cache_file::default_dir("PERFSCOPE_SYMBOL_CACHE", "symbols");
}

const std::string& program_build_id() {
  static const std::string id = build_id_of_program();
  return id;
}

std::string symbol_cache_file(const std::string& dir, const SymbolCacheKey& key) {
  return fmt::format("{}/{}-{:016x}.bin", dir, key.build_id, cache_file::fnv1a(key_bytes(key)));
}

std::optional<CachedFrames> read_symbol_cache(const std::string& file, const SymbolCacheKey& key) {
  if (key.build_id.empty() || key.program_id.empty()) return std::nullopt;
  const auto read = cache_file::read_private(file, cache_file::kHeaderBytes, kMaxFileBytes);
  if (!read) return std::nullopt;
  const auto body = cache_file::checked_body(read->view(), kMagic, kVersion);
  if (!body) return std::nullopt;
  std::string_view in = *body;
  SymbolCacheKey stored;
  if (!get_key(in, stored) || !(stored == key)) return std::nullopt;
  std::uint64_t count = 0;
  // Each entry takes at least 12 bytes: a count past that is not one this code wrote.
  if (!get(in, count) || count > in.size() / 12) return std::nullopt;
  CachedFrames out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t vaddr = 0;
    std::uint32_t n = 0;
    if (!get(in, vaddr) || !get(in, n) || n > kMaxFramesPerAddress) return std::nullopt;
    std::vector<Frame> frames(n);
    for (auto& f : frames) {
      std::uint8_t flags = 0;
      if (!get(in, flags) || flags > 3 || !get(in, f.line) || !get(in, f.start_line) ||
          !get(in, f.module_offset) || !get_string(in, f.function) || !get_string(in, f.file)) {
        return std::nullopt;
      }
      f.inlined = (flags & kInlined) != 0;
      f.resolved = (flags & kResolved) != 0;
    }
    if (!out.emplace(vaddr, std::move(frames)).second) return std::nullopt;  // written once each
  }
  if (!in.empty()) return std::nullopt;
  return out;
}

bool write_symbol_cache(const std::string& file, const SymbolCacheKey& key,
                        const CachedFrames& frames) {
  if (key.build_id.empty() || key.program_id.empty()) return false;
  // In address order, so that the same lookups write the same bytes.
  std::vector<const CachedFrames::value_type*> entries;
  entries.reserve(frames.size());
  for (const auto& e : frames) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string body = key_bytes(key);
  put(body, static_cast<std::uint64_t>(entries.size()));
  for (const auto* e : entries) {
    if (e->second.size() > kMaxFramesPerAddress) return false;
    put(body, e->first);
    put(body, static_cast<std::uint32_t>(e->second.size()));
    for (const Frame& f : e->second) {
      put(body,
          static_cast<std::uint8_t>((f.inlined ? kInlined : 0) | (f.resolved ? kResolved : 0)));
      put(body, f.line);
      put(body, f.start_line);
      put(body, f.module_offset);
      put_string(body, f.function);
      put_string(body, f.file);
    }
  }
  const std::string bytes = cache_file::framed(kMagic, kVersion, body);
  if (bytes.size() > kMaxFileBytes) return false;
  if (!cache_file::write_private(file, bytes)) return false;
  const auto slash = file.rfind('/');
  cache_file::remove_others(file.substr(0, slash), key.build_id + "-", ".bin",
                            file.substr(slash + 1));
  return true;
}

}  // namespace perfscope::symbols
