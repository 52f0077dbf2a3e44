#include "core/mapped_region.hpp"

#include <sys/mman.h>

#include <string>

namespace perfscope {

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    unmap();
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Result<MappedRegion> MappedRegion::map(int fd, std::size_t size, int prot, int flags, long offset,
                                       const char* what) {
  void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (addr == MAP_FAILED) {
    const int e = errno;
    return Error{std::string("mmap ") + what + " (" + std::to_string(size) + " bytes)", e, {}};
  }
  return MappedRegion(addr, size);
}

void MappedRegion::unmap() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace perfscope
