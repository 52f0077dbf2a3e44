// The DWARF expression evaluator CFI rules run on, and the perf → DWARF register mapping.
#include <asm/perf_regs.h>
#include <dwarf.h>
#include <gtest/gtest.h>

#include <bit>
#include <map>
#include <vector>

#include "unwind/expression.hpp"
#include "unwind/registers.hpp"

namespace perfscope::unwind {
namespace {

Dwarf_Op op(std::uint8_t atom, Dwarf_Word number = 0, Dwarf_Word number2 = 0) {
  return Dwarf_Op{atom, number, number2, 0};
}

struct Eval {
  EvalStatus status;
  std::uint64_t result = 0;
  bool is_value = false;
};

Eval run(const std::vector<Dwarf_Op>& ops, const Registers& regs, std::uint64_t cfa = 0,
         bool has_cfa = false, const std::map<std::uint64_t, std::uint64_t>& memory = {}) {
  Eval e{EvalStatus::ok};
  const ReadWord read = [&](std::uint64_t a, std::uint64_t& v) {
    auto it = memory.find(a);
    if (it == memory.end()) return false;
    v = it->second;
    return true;
  };
  e.status = evaluate(ops, regs, has_cfa, cfa, read, e.result, e.is_value);
  return e;
}

TEST(UnwindExpression, RegisterPlusOffsetIsTheCommonCfa) {
  Registers regs;
  regs.set(kRegSp, 0x7ffc1000);
  const auto e = run({op(DW_OP_breg7, 16)}, regs);
  ASSERT_EQ(e.status, EvalStatus::ok);
  EXPECT_EQ(e.result, 0x7ffc1010u);
  EXPECT_FALSE(e.is_value);
  // Negative offsets arrive as two's complement words.
  regs.set(kRegBp, 0x5000);
  EXPECT_EQ(run({op(DW_OP_breg6, static_cast<Dwarf_Word>(-8))}, regs).result, 0x4ff8u);
}

// gcc's CFA for a PLT entry: rsp + 8, plus 8 more once past the push in the entry's second half.
TEST(UnwindExpression, PltCfaExpressionTakesBothBranches) {
  const std::vector<Dwarf_Op> plt = {op(DW_OP_breg7, 8), op(DW_OP_breg16, 0), op(DW_OP_lit15),
                                     op(DW_OP_and),      op(DW_OP_lit11),     op(DW_OP_ge),
                                     op(DW_OP_lit3),     op(DW_OP_shl),       op(DW_OP_plus)};
  Registers regs;
  regs.set(kRegSp, 0x1000);
  regs.set(kRegIp, 0x401020);  // low nibble 0 < 11
  EXPECT_EQ(run(plt, regs).result, 0x1008u);
  regs.set(kRegIp, 0x40102b);  // low nibble 11
  EXPECT_EQ(run(plt, regs).result, 0x1010u);
}

TEST(UnwindExpression, SavedRegisterRelativeToTheCfa) {
  Registers regs;
  const auto e = run(
      {op(DW_OP_call_frame_cfa), op(DW_OP_consts, static_cast<Dwarf_Word>(-16)), op(DW_OP_plus)},
      regs, 0x2000, true);
  ASSERT_EQ(e.status, EvalStatus::ok);
  EXPECT_EQ(e.result, 0x1ff0u);
  // Without a CFA (while computing the CFA itself) DW_OP_call_frame_cfa is refused.
  EXPECT_EQ(run({op(DW_OP_call_frame_cfa)}, regs).status, EvalStatus::unsupported);
}

TEST(UnwindExpression, StackValueMarksAValueAndDerefReadsMemory) {
  Registers regs;
  regs.set(kRegSp, 0x3000);
  const auto value = run({op(DW_OP_breg7, 8), op(DW_OP_stack_value)}, regs);
  EXPECT_TRUE(value.is_value);
  EXPECT_EQ(value.result, 0x3008u);
  // A signal frame's CFA: the saved rsp inside the ucontext on the stack.
  const auto deref =
      run({op(DW_OP_breg7, 0xa0), op(DW_OP_deref)}, regs, 0, false, {{0x30a0, 0x7ffd0000}});
  ASSERT_EQ(deref.status, EvalStatus::ok);
  EXPECT_EQ(deref.result, 0x7ffd0000u);
  EXPECT_EQ(run({op(DW_OP_breg7, 0), op(DW_OP_deref)}, regs).status, EvalStatus::bad_memory);
}

TEST(UnwindExpression, ArithmeticAndStackOperations) {
  Registers regs;
  EXPECT_EQ(run({op(DW_OP_lit7), op(DW_OP_lit3), op(DW_OP_minus)}, regs).result, 4u);
  EXPECT_EQ(run({op(DW_OP_lit7), op(DW_OP_lit3), op(DW_OP_swap), op(DW_OP_minus)}, regs).result,
            static_cast<std::uint64_t>(-4));
  EXPECT_EQ(run({op(DW_OP_lit2), op(DW_OP_dup), op(DW_OP_mul)}, regs).result, 4u);
  EXPECT_EQ(
      run({op(DW_OP_lit1), op(DW_OP_lit2), op(DW_OP_over), op(DW_OP_plus), op(DW_OP_plus)}, regs)
          .result,
      4u);
  EXPECT_EQ(run({op(DW_OP_constu, 0xff00), op(DW_OP_lit8), op(DW_OP_shr)}, regs).result, 0xffu);
  EXPECT_EQ(run({op(DW_OP_lit9), op(DW_OP_lit2), op(DW_OP_div)}, regs).result, 4u);
  EXPECT_EQ(run({op(DW_OP_lit9), op(DW_OP_lit0), op(DW_OP_div)}, regs).status,
            EvalStatus::unsupported);
}

TEST(UnwindExpression, RefusesWhatItCannotDo) {
  Registers regs;
  EXPECT_EQ(run({op(DW_OP_breg3, 0)}, regs).status, EvalStatus::unknown_register);
  EXPECT_EQ(run({op(DW_OP_call2, 4)}, regs).status, EvalStatus::unsupported);
  EXPECT_EQ(run({}, regs).status, EvalStatus::unsupported);
  EXPECT_EQ(run({op(DW_OP_plus)}, regs).status, EvalStatus::unsupported);
  EXPECT_EQ(run({op(DW_OP_stack_value), op(DW_OP_lit1)}, regs).status, EvalStatus::unsupported);
}

TEST(UnwindRegisters, SampleRegistersMapToDwarfNumbers) {
  const std::uint64_t mask = x86_64_sample_regs();
  EXPECT_EQ(std::popcount(mask), 17);
  EXPECT_TRUE(mask & (1ULL << PERF_REG_X86_IP));
  EXPECT_FALSE(mask & (1ULL << PERF_REG_X86_FLAGS));
  // In mask bit order: ax bx cx dx si di bp sp ip r8..r15 hold 100..116.
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 100; v < 117; ++v) values.push_back(v);
  const Registers r = from_sample(values, mask);
  EXPECT_EQ(r.get(0), 100u);  // rax
  EXPECT_EQ(r.get(3), 101u);  // rbx
  EXPECT_EQ(r.get(2), 102u);  // rcx
  EXPECT_EQ(r.get(1), 103u);  // rdx
  EXPECT_EQ(r.get(kRegBp), 106u);
  EXPECT_EQ(r.get(kRegSp), 107u);
  EXPECT_EQ(r.get(kRegIp), 108u);
  EXPECT_EQ(r.get(8), 109u);   // r8
  EXPECT_EQ(r.get(15), 116u);  // r15
  EXPECT_EQ(r.known, (1u << kRegisterCount) - 1);
  // A shorter register list leaves the rest unknown.
  const Registers partial = from_sample(std::span(values).first(3), mask);
  EXPECT_TRUE(partial.has(0));
  EXPECT_FALSE(partial.has(kRegIp));
}

}  // namespace
}  // namespace perfscope::unwind
