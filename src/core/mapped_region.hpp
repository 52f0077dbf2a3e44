// MappedRegion: the one owner of an mmap()ed range (perf ring buffers, files). Move-only.
#pragma once

#include <cstddef>
#include <utility>

#include "core/error.hpp"

namespace perfscope {

class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(MappedRegion&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  ~MappedRegion() { unmap(); }

  // mmap(nullptr, size, prot, flags, fd, offset); the Error names `what` and carries errno.
  static Result<MappedRegion> map(int fd, std::size_t size, int prot, int flags, long offset,
                                  const char* what);

  void* data() const noexcept { return addr_; }
  std::size_t size() const noexcept { return size_; }
  bool valid() const noexcept { return addr_ != nullptr; }

 private:
  MappedRegion(void* addr, std::size_t size) : addr_(addr), size_(size) {}
  void unmap() noexcept;

  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace perfscope
