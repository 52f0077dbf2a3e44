#include "unwind/registers.hpp"

#include <asm/perf_regs.h>

namespace perfscope::unwind {
namespace {

// DWARF number of each PERF_REG_X86_* index, -1 for those CFI never names.
constexpr int kDwarfOf[PERF_REG_X86_64_MAX] = {
    0,  3,  2,  1,  4,  5,  6,  7,   // ax bx cx dx si di bp sp
    16, -1, -1, -1, -1, -1, -1, -1,  // ip flags cs ss ds es fs gs
    8,  9,  10, 11, 12, 13, 14, 15,  // r8-r15
};

}  // namespace

std::uint64_t x86_64_sample_regs() {
  std::uint64_t mask = 0;
  for (int i = 0; i < PERF_REG_X86_64_MAX; ++i) {
    if (kDwarfOf[i] >= 0) mask |= std::uint64_t{1} << i;
  }
  return mask;
}

Registers from_sample(std::span<const std::uint64_t> regs, std::uint64_t mask) {
  Registers out;
  std::size_t next = 0;
  for (int i = 0; i < 64 && next < regs.size(); ++i) {
    if (((mask >> i) & 1u) == 0) continue;
    const std::uint64_t value = regs[next++];
    if (i < PERF_REG_X86_64_MAX && kDwarfOf[i] >= 0) out.set(kDwarfOf[i], value);
  }
  return out;
}

}  // namespace perfscope::unwind
