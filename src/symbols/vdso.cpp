#include "symbols/vdso.hpp"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

#include "core/files.hpp"

namespace perfscope::symbols {
namespace {

// The vDSO's start comes from the auxiliary vector, its end from /proc/self/maps.
std::string copy_vdso() {
  const auto base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) return {};
  auto maps = read_text_file("/proc/self/maps");
  if (!maps) return {};
  const auto at = maps->find("[vdso]");
  if (at == std::string::npos) return {};
  const auto line = maps->rfind('\n', at);
  unsigned long start = 0, end = 0;
  if (std::sscanf(maps->c_str() + (line == std::string::npos ? 0 : line + 1), "%lx-%lx", &start,
                  &end) != 2 ||
      start != base || end <= start) {
    return {};
  }
  // Kept open for the life of the process: the path is only valid while the descriptor is.
  const int fd = static_cast<int>(::memfd_create("perfscope-vdso", MFD_CLOEXEC));
  if (fd < 0) return {};
  const auto size = static_cast<std::size_t>(end - start);
  if (::write(fd, reinterpret_cast<const void*>(start), size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return {};
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace

const std::string& vdso_image_path() {
  static const std::string path = copy_vdso();
  return path;
}

}  // namespace perfscope::symbols
