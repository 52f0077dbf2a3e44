// Everything a command reads (formats/input.cpp, input_stream.cpp): load_input() over any bytes,
// given as a file (a memfd), so the whole path runs: the gzip layer taken off in pieces, format
// detection on the head, then the reader of that format, streaming or whole. The input bound is
// lowered to 16 MiB so a gzip bomb is the Error it should be within a fuzzer's memory.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "formats/input.hpp"
#include "fuzz_support.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("perfscope-fuzz-input", MFD_CLOEXEC);
  fuzz::require(fd >= 0, "memfd_create works");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    fuzz::require(n > 0, "writing a memfd works");
    done += static_cast<std::size_t>(n);
  }
  auto loaded = formats::load_input("/proc/self/fd/" + std::to_string(fd),
                                    {.max_bytes = std::size_t{16} << 20});
  ::close(fd);
  if (loaded) {
    fuzz::require(static_cast<bool>(profile::validate(loaded->profile)),
                  "a loaded profile validates");
  }
  return 0;
}
