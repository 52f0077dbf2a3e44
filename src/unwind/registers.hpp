// x86-64 registers as the DWARF unwinder numbers them, and how a perf sample delivers them.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace perfscope::unwind {

// DWARF register numbers of the x86-64 psABI: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp,
// 7 rsp, 8-15 r8-r15, 16 the return address (rip).
inline constexpr int kRegisterCount = 17;
inline constexpr int kRegBp = 6;
inline constexpr int kRegSp = 7;
inline constexpr int kRegIp = 16;

// perf_event_attr.sample_regs_user for unwinding: ax bx cx dx si di bp sp ip and r8-r15 (the
// flags and segment registers are of no use to CFI).
std::uint64_t x86_64_sample_regs();

struct Registers {
  std::array<std::uint64_t, kRegisterCount> value{};
  std::uint32_t known = 0;  // bit r: value[r] is known

  bool has(int r) const { return (known >> r) & 1u; }
  void set(int r, std::uint64_t v) {
    value[static_cast<std::size_t>(r)] = v;
    known |= 1u << r;
  }
  std::uint64_t get(int r) const { return value[static_cast<std::size_t>(r)]; }
};

// A sample's registers, given in the bit order of `mask` (PERF_REG_X86_*), in DWARF numbering.
// Registers the mask lacks (or `regs` is too short for) are unknown.
Registers from_sample(std::span<const std::uint64_t> regs, std::uint64_t mask);

}  // namespace perfscope::unwind
