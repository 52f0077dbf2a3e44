#include "symbols/kallsyms_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/files.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::symbols {
namespace {

constexpr char kMagic[4] = {'P', 'S', 'K', 'S'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 8;
// A real table is a few MB (121,000 symbols: about 5 MB); anything far past that is not ours.
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{256} << 20;
constexpr std::size_t kHeadBytes = 4096;
constexpr std::string_view kFilePrefix = "kallsyms-";

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (const unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// The file's checksum: FNV-1a's step over 8-byte words (a byte at a time costs 20 ms on a 5 MB
// table), the tail bytes one by one, then the length.
std::uint64_t checksum(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return fnv1a(bytes.substr(i), h) ^ bytes.size();
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

bool get_u32(std::string_view& in, std::uint32_t& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

bool get_u64(std::string_view& in, std::uint64_t& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

bool get_string(std::string_view& in, std::string& s) {
  std::uint32_t n = 0;
  if (!get_u32(in, n) || n > in.size()) return false;
  s = std::string(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

std::string identity_bytes(const KernelIdentity& id) {
  std::string out;
  put_string(out, id.build_id);
  put_string(out, id.boot_id);
  put(out, id.modules_hash);
  put(out, id.uid);
  put_string(out, id.first_line);
  return out;
}

// Up to `limit` bytes of a file (procfs files report size 0: read until EOF or the limit).
std::optional<std::string> read_head(const std::string& path, std::size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out(limit, '\0');
  std::size_t have = 0;
  while (have < limit) {
    const ssize_t n = ::read(fd.get(), out.data() + have, limit - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  out.resize(have);
  return out;
}

// The GNU build-id of /sys/kernel/notes' ELF notes (4-byte aligned name and descriptor), hex.
std::string build_id_of_notes(std::string_view notes) {
  std::size_t pos = 0;
  const auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
  while (notes.size() - pos >= 12) {
    std::uint32_t namesz = 0, descsz = 0, type = 0;
    std::memcpy(&namesz, notes.data() + pos, 4);
    std::memcpy(&descsz, notes.data() + pos + 4, 4);
    std::memcpy(&type, notes.data() + pos + 8, 4);
    pos += 12;
    if (namesz > notes.size() - pos || align4(namesz) > notes.size() - pos) break;
    const std::string_view name = notes.substr(pos, namesz);
    pos += align4(namesz);
    if (descsz > notes.size() - pos) break;
    const std::string_view desc = notes.substr(pos, descsz);
    pos += std::min(align4(descsz), notes.size() - pos);
    if (type == 3 /* NT_GNU_BUILD_ID */ && name == std::string_view("GNU\0", 4)) {
      std::string hex;
      for (const unsigned char c : desc) hex += fmt::format("{:02x}", c);
      return hex;
    }
  }
  return {};
}

}  // namespace

std::optional<KernelIdentity> kernel_identity(const KallsymsCacheOptions& options,
                                              std::string* head) {
  KernelIdentity id;
  auto boot = read_head(options.boot_id_path, 64);
  if (!boot || boot->empty()) return std::nullopt;
  id.boot_id = boot->substr(0, boot->find('\n'));
  if (auto notes = read_head(options.notes_path, 64 * 1024))
    id.build_id = build_id_of_notes(*notes);
  // A kernel without modules has no /proc/modules: hashed as empty.
  auto modules = read_text_file(options.modules_path);
  id.modules_hash = fnv1a(modules ? std::string_view(*modules) : std::string_view());
  id.uid = static_cast<std::uint32_t>(::geteuid());
  auto first = read_head(options.kallsyms_path, kHeadBytes);
  if (!first) return std::nullopt;
  const auto nl = first->find('\n');
  if (nl == std::string::npos || nl == 0) return std::nullopt;
  id.first_line = first->substr(0, nl);
  // "0000000000000000 T name": the kernel hides the addresses from this reader.
  const auto space = id.first_line.find(' ');
  id.addresses_hidden =
      space != std::string::npos && space > 0 && id.first_line.find_first_not_of('0') == space;
  if (head != nullptr) *head = std::move(*first);
  return id;
}

std::string default_kallsyms_cache_dir() {
  if (const char* dir = std::getenv("PERFSCOPE_KALLSYMS_CACHE"); dir != nullptr && dir[0] != '\0') {
    return std::string_view(dir) == "off" ? std::string() : std::string(dir);
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/perfscope/kallsyms";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::string(home) + "/.cache/perfscope/kallsyms";
  }
  return {};
}

std::string kallsyms_cache_file(const std::string& dir, const KernelIdentity& id) {
  return fmt::format("{}/{}{:016x}.bin", dir, kFilePrefix, fnv1a(identity_bytes(id)));
}

std::optional<KernelSymbols> read_kallsyms_cache(const std::string& file,
                                                 const KernelIdentity& id) {
  if (id.addresses_hidden) return std::nullopt;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 077) != 0 || st.st_size < static_cast<off_t>(kHeaderBytes) ||
      static_cast<std::uint64_t>(st.st_size) > kMaxFileBytes) {
    return std::nullopt;
  }
  // Not zero-filled first: every byte is read over (page faults are most of the cost here).
  const auto length = static_cast<std::size_t>(st.st_size);
  const auto buffer = std::make_unique_for_overwrite<char[]>(length);
  std::size_t have = 0;
  while (have < length) {
    const ssize_t n = ::read(fd.get(), buffer.get() + have, length - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // shorter than fstat said: being replaced
    have += static_cast<std::size_t>(n);
  }
  const std::string_view bytes(buffer.get(), length);
  std::string_view in = bytes;
  std::uint32_t version = 0;
  std::uint64_t size = 0, checksum = 0;
  if (std::memcmp(in.data(), kMagic, 4) != 0) return std::nullopt;
  in.remove_prefix(4);
  if (!get_u32(in, version) || version != kVersion || !get_u64(in, size) || size != bytes.size() ||
      !get_u64(in, checksum) || checksum != perfscope::symbols::checksum(in)) {
    return std::nullopt;
  }
  KernelIdentity stored;
  if (!get_string(in, stored.build_id) || !get_string(in, stored.boot_id) ||
      !get_u64(in, stored.modules_hash) || in.size() < 4) {
    return std::nullopt;
  }
  get_u32(in, stored.uid);
  if (!get_string(in, stored.first_line)) return std::nullopt;
  stored.addresses_hidden = false;
  if (!(stored == id)) return std::nullopt;
  auto table = KernelSymbols::from_bytes(in);
  // A cache holds a visible table only: one that says hidden is not one this code wrote.
  if (!table || table->addresses_hidden()) return std::nullopt;
  return table;
}

bool write_kallsyms_cache(const std::string& file, const KernelIdentity& id,
                          const KernelSymbols& symbols) {
  if (id.addresses_hidden || symbols.addresses_hidden()) return false;
  const auto slash = file.rfind('/');
  if (slash == std::string::npos || slash == 0) return false;
  const std::string dir = file.substr(0, slash);
  // Each missing directory is made private to this user: the table is this boot's kernel layout.
  for (std::size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    const std::string part = at == std::string::npos ? dir : dir.substr(0, at);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (at == std::string::npos) break;
  }
  std::string body = identity_bytes(id);
  body += symbols.to_bytes();
  std::string bytes(kMagic, 4);
  put(bytes, kVersion);
  put(bytes, static_cast<std::uint64_t>(kHeaderBytes + body.size()));
  put(bytes, checksum(body));
  bytes += body;

  const std::string tmp = fmt::format("{}.tmp.{}", file, ::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return false;
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::unlink(tmp.c_str());
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  // The tables of other boots and module sets will not be read again: keep the newest only.
  const std::string keep = file.substr(slash + 1);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (!name.starts_with(kFilePrefix) || !name.ends_with(".bin") || name == keep) continue;
      const std::string path = dir + "/" + std::string(name);
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) {
        ::unlink(path.c_str());
      }
    }
    ::closedir(d);
  }
  return true;
}

Result<KernelSymbols> load_kernel_symbols(const KallsymsCacheOptions& options,
                                          KallsymsSource* source) {
  const auto set = [&](KallsymsSource s) {
    if (source != nullptr) *source = s;
  };
  std::optional<KernelIdentity> id;
  std::string head;
  if (!options.dir.empty()) id = kernel_identity(options, &head);
  if (id && id->addresses_hidden) {
    // Nothing this reader could resolve: the first lines say so, without the other 120,000.
    set(KallsymsSource::hidden);
    return KernelSymbols::parse(head);
  }
  std::string file;
  if (id) {
    file = kallsyms_cache_file(options.dir, *id);
    if (auto cached = read_kallsyms_cache(file, *id)) {
      set(KallsymsSource::cache);
      return std::move(*cached);
    }
  }
  auto loaded = KernelSymbols::load(options.kallsyms_path, options.modules_path);
  if (!loaded) return loaded.error();
  set(loaded->addresses_hidden() ? KallsymsSource::hidden : KallsymsSource::kallsyms);
  // The head read before must still start the file: otherwise the kernel changed between the
  // two reads (a module loaded) and the table would be cached under the wrong identity.
  if (id && !file.empty()) {
    auto again = kernel_identity(options);
    if (again && *again == *id) write_kallsyms_cache(file, *id, *loaded);
  }
  return loaded;
}

}  // namespace perfscope::symbols
