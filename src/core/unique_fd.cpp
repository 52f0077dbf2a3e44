#include "core/unique_fd.hpp"

#include <unistd.h>

namespace perfscope {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is released either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace perfscope
