#include "system/fixes.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/output_file.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::system {

Status set_paranoid_level(int level) {
  // A /proc/sys file is written in place, in one write (it looks like a regular file, so
  // OutputFile would try a temporary beside it).
  const char* path = "/proc/sys/kernel/perf_event_paranoid";
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return errno_error(fmt::format("write {}", path));
  const std::string text = fmt::format("{}\n", level);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return errno_error(fmt::format("write {}", path));
  }
  return {};
}

Status persist_paranoid_level(int level, const std::string& conf_path) {
  return write_output_file(
      conf_path,
      fmt::format(
          "# written by perfscope doctor --fix --persist\nkernel.perf_event_paranoid = {}\n",
          level));
}

Status mount_tracefs() {
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    return errno_error("mount tracefs at /sys/kernel/tracing");
  }
  return {};
}

}  // namespace perfscope::system
