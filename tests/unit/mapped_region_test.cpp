// MappedRegion owns an mmap: mapping a memfd, moving the owner, and unmapping on destruction.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "core/mapped_region.hpp"
#include "core/unique_fd.hpp"

namespace perfscope {
namespace {

UniqueFd memfd_with(const char* text) {
  UniqueFd fd(::memfd_create("perfscope-test", MFD_CLOEXEC));
  const auto n = static_cast<ssize_t>(std::strlen(text));
  EXPECT_EQ(::write(fd.get(), text, static_cast<std::size_t>(n)), n);
  return fd;
}

// mincore() fails with ENOMEM for an address range that is not mapped.
bool mapped(void* addr) {
  unsigned char vec;
  return ::mincore(addr, static_cast<std::size_t>(::getpagesize()), &vec) == 0;
}

TEST(MappedRegion, MapsFileContent) {
  auto fd = memfd_with("hello ring");
  auto region = MappedRegion::map(fd.get(), 4096, PROT_READ, MAP_SHARED, 0, "test memfd");
  ASSERT_TRUE(region.has_value()) << region.error().describe();
  EXPECT_EQ(region->size(), 4096u);
  EXPECT_EQ(std::memcmp(region->data(), "hello ring", 10), 0);
}

TEST(MappedRegion, MoveTransfersOwnershipAndDestructionUnmaps) {
  auto fd = memfd_with("x");
  void* addr = nullptr;
  {
    auto region = MappedRegion::map(fd.get(), 4096, PROT_READ, MAP_SHARED, 0, "test memfd");
    ASSERT_TRUE(region.has_value());
    MappedRegion owner = std::move(*region);
    addr = owner.data();
    EXPECT_FALSE(region->valid());
    EXPECT_EQ(region->size(), 0u);
    EXPECT_TRUE(mapped(addr));
  }
  EXPECT_FALSE(mapped(addr)) << "the last owner unmapped it";
}

TEST(MappedRegion, FailureCarriesErrnoAndWhat) {
  auto region = MappedRegion::map(-1, 4096, PROT_READ, MAP_SHARED, 0, "ring buffer of cpu 3");
  ASSERT_FALSE(region.has_value());
  EXPECT_EQ(region.error().errnum, EBADF);
  EXPECT_NE(region.error().op.find("ring buffer of cpu 3"), std::string::npos);
}

}  // namespace
}  // namespace perfscope
