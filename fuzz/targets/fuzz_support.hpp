// What every fuzz target shares: its input as text, the check that turns a broken invariant
// into a crash libFuzzer keeps (an abort with the reason on stderr), and, for targets whose code
// reads a path, a scratch directory to write the input into.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace perfscope::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// An invariant of the code under test; false is a bug, reported as a crash.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

// A directory of this process's own under /tmp (empty path when it could not be made), removed
// with what it holds when the process exits.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const char* name) {
    std::string pattern = std::string("/tmp/perfscope-fuzz-") + name + "-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// Writes the input to `path` as a private file (mode 0600, as the caches require); false when it
// could not be opened.
inline bool write_private_input(const std::string& path, const std::uint8_t* data,
                                std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::fchmod(fd, 0600);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return true;
}

}  // namespace perfscope::fuzz
