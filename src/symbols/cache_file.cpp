#include "symbols/cache_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "core/unique_fd.hpp"

namespace perfscope::symbols::cache_file {

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h) {
  for (const unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

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

std::string framed(const char (&magic)[4], std::uint32_t version, std::string_view body) {
  std::string bytes(magic, 4);
  put(bytes, version);
  put(bytes, static_cast<std::uint64_t>(kHeaderBytes + body.size()));
  put(bytes, checksum(body));
  bytes += body;
  return bytes;
}

std::optional<std::string_view> checked_body(std::string_view bytes, const char (&magic)[4],
                                             std::uint32_t version) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), magic, 4) != 0) return std::nullopt;
  std::string_view in = bytes.substr(4);
  std::uint32_t stored_version = 0;
  std::uint64_t size = 0, sum = 0;
  if (!get(in, stored_version) || stored_version != version || !get(in, size) ||
      size != bytes.size() || !get(in, sum) || sum != checksum(in)) {
    return std::nullopt;
  }
  return in;
}

void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

bool get_string(std::string_view& in, std::string& s) {
  std::uint32_t n = 0;
  if (!get(in, n) || n > in.size()) return false;
  s.assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

std::optional<Bytes> read_private(const std::string& path, std::size_t min_bytes,
                                  std::uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 077) != 0 || st.st_size < static_cast<off_t>(min_bytes) ||
      static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return std::nullopt;
  }
  // Mapped, not read: the page cache's pages are used as they are, without a copy into fresh
  // (zero-filled, page-faulted) memory.
  auto region = MappedRegion::map(fd.get(), static_cast<std::size_t>(st.st_size), PROT_READ,
                                  MAP_PRIVATE | MAP_POPULATE, 0, "cache file");
  if (!region) return std::nullopt;
  return Bytes{std::move(*region)};
}

bool write_private(const std::string& path, std::string_view bytes) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return false;
  const std::string dir = path.substr(0, slash);
  // Each missing directory is made private to this user.
  for (std::size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    const std::string part = at == std::string::npos ? dir : dir.substr(0, at);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (at == std::string::npos) break;
  }
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
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
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

void remove_others(const std::string& dir, std::string_view prefix, std::string_view suffix,
                   std::string_view keep) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!name.starts_with(prefix) || !name.ends_with(suffix) || name == keep) continue;
    const std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) {
      ::unlink(path.c_str());
    }
  }
  ::closedir(d);
}

std::string default_dir(const char* env, std::string_view subdir) {
  if (const char* dir = std::getenv(env); dir != nullptr && dir[0] != '\0') {
    return std::string_view(dir) == "off" ? std::string() : std::string(dir);
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fmt::format("{}/perfscope/{}", xdg, subdir);
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return fmt::format("{}/.cache/perfscope/{}", home, subdir);
  }
  return {};
}

}  // namespace perfscope::symbols::cache_file
