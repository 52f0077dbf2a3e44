#include "symbols/kallsyms_cache.hpp"

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
#include "symbols/cache_file.hpp"

namespace perfscope::symbols {
namespace {

constexpr char kMagic[4] = {'P', 'S', 'K', 'S'};
constexpr std::uint32_t kVersion = 1;
// A real table is a few MB (121,000 symbols: about 5 MB); anything far past that is not ours.
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{256} << 20;
constexpr std::size_t kHeadBytes = 4096;
constexpr std::string_view kFilePrefix = "kallsyms-";

using cache_file::fnv1a;
using cache_file::get;
using cache_file::get_string;
using cache_file::put;
using cache_file::put_string;

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
  return cache_file::default_dir("PERFSCOPE_KALLSYMS_CACHE", "kallsyms");
}

std::string kallsyms_cache_file(const std::string& dir, const KernelIdentity& id) {
  return fmt::format("{}/{}{:016x}.bin", dir, kFilePrefix, fnv1a(identity_bytes(id)));
}

std::optional<KernelSymbols> read_kallsyms_cache(const std::string& file,
                                                 const KernelIdentity& id) {
  if (id.addresses_hidden) return std::nullopt;
  auto read = cache_file::read_private(file, cache_file::kHeaderBytes, kMaxFileBytes);
  if (!read) return std::nullopt;
  // The mapping outlives this call: the table reads its names in place.
  const auto mapped = std::make_shared<cache_file::Bytes>(std::move(*read));
  const auto body = cache_file::checked_body(mapped->view(), kMagic, kVersion);
  if (!body) return std::nullopt;
  std::string_view in = *body;
  KernelIdentity stored;
  if (!get_string(in, stored.build_id) || !get_string(in, stored.boot_id) ||
      !get(in, stored.modules_hash) || !get(in, stored.uid)) {
    return std::nullopt;
  }
  if (!get_string(in, stored.first_line)) return std::nullopt;
  stored.addresses_hidden = false;
  if (!(stored == id)) return std::nullopt;
  auto table = KernelSymbols::from_bytes(in, mapped);
  // A cache holds a visible table only: one that says hidden is not one this code wrote.
  if (!table || table->addresses_hidden()) return std::nullopt;
  return table;
}

bool write_kallsyms_cache(const std::string& file, const KernelIdentity& id,
                          const KernelSymbols& symbols) {
  if (id.addresses_hidden || symbols.addresses_hidden()) return false;
  std::string body = identity_bytes(id);
  body += symbols.to_bytes();
  const std::string bytes = cache_file::framed(kMagic, kVersion, body);

  if (!cache_file::write_private(file, bytes)) return false;
  // The tables of other boots and module sets will not be read again: keep the newest only.
  const auto slash = file.rfind('/');
  cache_file::remove_others(file.substr(0, slash), kFilePrefix, ".bin", file.substr(slash + 1));
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
