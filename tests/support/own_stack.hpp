// Registers and a stack copy of the calling thread, taken the way the kernel takes them for
// PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER, so the DWARF unwinder can be tested and
// benchmarked on real stacks without the kernel. x86-64 only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/files.hpp"

namespace perfscope::testing {

// What a sample would carry: registers in x86_64_sample_regs() order and the stack from rsp up.
struct Captured {
  std::vector<std::uint64_t> regs;
  std::vector<std::byte> stack;
};

// The end of the mapping holding `address` (the top of this thread's stack).
inline std::uint64_t mapping_end(std::uint64_t address) {
  auto maps = perfscope::read_text_file("/proc/self/maps");
  if (!maps) return address;
  std::size_t at = 0;
  while (at < maps->size()) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(maps->c_str() + at, "%lx-%lx", &start, &end) == 2 && address >= start &&
        address < end) {
      return end;
    }
    at = maps->find('\n', at);
    if (at == std::string::npos) break;
    ++at;
  }
  return address;
}

// Registers are stored to memory operands so that no output register clobbers one still to be
// read; rip is the address right after the lea, inside this function's body.
inline __attribute__((noinline, no_sanitize_address)) void capture_here(Captured& c,
                                                                        std::size_t max_bytes) {
  std::uint64_t r[17];
  asm volatile(
      "lea 0(%%rip), %%rax\n\t"
      "mov %%rax, %8\n\t"
      "mov %%rbx, %1\n\t"
      "mov %%rcx, %2\n\t"
      "mov %%rdx, %3\n\t"
      "mov %%rsi, %4\n\t"
      "mov %%rdi, %5\n\t"
      "mov %%rbp, %6\n\t"
      "mov %%rsp, %7\n\t"
      "mov %%r8, %9\n\t"
      "mov %%r9, %10\n\t"
      "mov %%r10, %11\n\t"
      "mov %%r11, %12\n\t"
      "mov %%r12, %13\n\t"
      "mov %%r13, %14\n\t"
      "mov %%r14, %15\n\t"
      "mov %%r15, %16\n\t"
      : "=m"(r[0]), "=m"(r[1]), "=m"(r[2]), "=m"(r[3]), "=m"(r[4]), "=m"(r[5]), "=m"(r[6]),
        "=m"(r[7]), "=m"(r[8]), "=m"(r[9]), "=m"(r[10]), "=m"(r[11]), "=m"(r[12]), "=m"(r[13]),
        "=m"(r[14]), "=m"(r[15]), "=m"(r[16])
      :
      : "rax", "memory");
  c.regs.assign(r, r + 17);
  const std::uint64_t sp = r[7];
  const std::size_t n = std::min<std::uint64_t>(max_bytes, mapping_end(sp) - sp);
  c.stack.resize(n);
  const volatile auto* src = reinterpret_cast<const volatile std::byte*>(sp);
  for (std::size_t i = 0; i < n; ++i) c.stack[i] = src[i];
}

}  // namespace perfscope::testing
