// DwarfUnwinder on a real stack: this test captures its own registers and a copy of its own stack
// (as the kernel does for PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER), then unwinds the copy
// offline through the CFI of this binary and libc, and symbolizes the result.
#include <asm/perf_regs.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "sampling/process_table.hpp"
#include "support/own_stack.hpp"
#include "symbols/symbolizer.hpp"
#include "unwind/dwarf_unwinder.hpp"

namespace perfscope_unwind_test {

using perfscope::testing::capture_here;
using perfscope::testing::Captured;

// Each level uses its callee's result afterwards, so none is a tail call.
__attribute__((noinline)) int unwind_level3(Captured& c, std::size_t bytes) {
  capture_here(c, bytes);
  asm volatile("" ::: "memory");
  return static_cast<int>(c.regs.size());
}
__attribute__((noinline)) int unwind_level2(Captured& c, std::size_t bytes) {
  const int n = unwind_level3(c, bytes);
  asm volatile("" ::: "memory");
  return n + 1;
}
__attribute__((noinline)) int unwind_level1(Captured& c, std::size_t bytes) {
  const int n = unwind_level2(c, bytes);
  asm volatile("" ::: "memory");
  return n + 1;
}

}  // namespace perfscope_unwind_test

namespace perfscope::unwind {
namespace {

using perfscope::testing::Captured;

struct Unwound {
  StopReason reason;
  std::vector<std::uint64_t> pcs;
  std::vector<std::string> functions;  // outermost line of each pc (the out-of-line function)
};

Unwound unwind_capture(const Captured& c, std::uint64_t requested) {
  sampling::ProcessTable table;
  table.seed_from_proc(::getpid());
  const auto space_id = table.space_of(::getpid(), 0);
  const auto& space = table.space(space_id);
  DwarfUnwinder unwinder({.regs_mask = x86_64_sample_regs()});
  Unwound u;
  const sampling::UserStack stack{static_cast<std::uint32_t>(::getpid()),
                                  static_cast<std::uint32_t>(::gettid()), c.regs, c.stack,
                                  requested};
  u.reason = unwinder.unwind_one(space, space_id, stack, u.pcs);
  symbols::Symbolizer symbolizer;
  for (std::size_t i = 0; i < u.pcs.size(); ++i) {
    const sampling::Mapping* m = space.find(u.pcs[i]);
    if (m == nullptr) {
      u.functions.push_back("?");
      continue;
    }
    const symbols::MappedFile file{m->path, {}, m->build_id, m->start, m->end, m->pgoff};
    const auto& frames = symbolizer.resolve_user(file, i == 0 ? u.pcs[i] : u.pcs[i] - 1);
    u.functions.push_back(frames.empty() ? "?" : frames.back().function);
  }
  return u;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += n + " <- ";
  return out;
}

TEST(DwarfUnwinder, OwnStackUnwindsThroughEveryCallerToStart) {
  Captured c;
  perfscope_unwind_test::unwind_level1(c, 65536);
  ASSERT_EQ(c.regs.size(), 17u);
  const Unwound u = unwind_capture(c, 65536);
  const std::string trace = joined(u.functions);
  EXPECT_EQ(u.reason, StopReason::outermost) << describe(u.reason) << ": " << trace;
  ASSERT_GE(u.functions.size(), 5u) << trace;
  EXPECT_NE(u.functions[0].find("capture_here"), std::string::npos) << trace;
  EXPECT_NE(u.functions[1].find("unwind_level3"), std::string::npos) << trace;
  EXPECT_NE(u.functions[2].find("unwind_level2"), std::string::npos) << trace;
  EXPECT_NE(u.functions[3].find("unwind_level1"), std::string::npos) << trace;
  // Up through GoogleTest and libc (no frame pointers there) to the program's entry point.
  EXPECT_NE(trace.find("main <- "), std::string::npos) << trace;
  EXPECT_EQ(u.functions.back(), "_start") << trace;
}

TEST(DwarfUnwinder, ACopyCutAtTheRequestedSizeIsTooSmall) {
  Captured c;
  perfscope_unwind_test::unwind_level1(c, 65536);
  // Only the first 8 bytes, as if 8 had been asked for: the return address lies beyond.
  c.stack.resize(8);
  const Unwound u = unwind_capture(c, 8);
  EXPECT_EQ(u.reason, StopReason::stack_too_small) << joined(u.functions);
  ASSERT_GE(u.pcs.size(), 1u);  // the sampled pc itself is always there
}

TEST(DwarfUnwinder, ACopyShorterThanRequestedEndsInUnreadableMemory) {
  Captured c;
  perfscope_unwind_test::unwind_level1(c, 65536);
  // The kernel copied less than asked (the stack mapping ended): what lies beyond never existed.
  c.stack.resize(8);
  const Unwound u = unwind_capture(c, 16384);
  EXPECT_EQ(u.reason, StopReason::unreadable) << joined(u.functions);
}

TEST(DwarfUnwinder, PcsOutsideMappingsOrWithoutUnwindInfoAreNamed) {
  Captured c;
  perfscope_unwind_test::unwind_level1(c, 4096);
  DwarfUnwinder unwinder({.regs_mask = x86_64_sample_regs()});
  const sampling::UserStack stack{1, 1, c.regs, c.stack, 4096};
  std::vector<std::uint64_t> pcs;
  sampling::AddressSpace empty;
  EXPECT_EQ(unwinder.unwind_one(empty, 0, stack, pcs), StopReason::outside_mappings);
  EXPECT_EQ(pcs.size(), 1u);

  // The pc inside a "file" that cannot be opened: no unwind information, and which module.
  sampling::AddressSpace missing;
  const std::uint64_t pc = c.regs[PERF_REG_X86_IP];
  missing.insert({pc & ~0xfffULL, (pc & ~0xfffULL) + 0x1000, 0, "/nonexistent/libgone.so", {}});
  pcs.clear();
  EXPECT_EQ(unwinder.unwind_one(missing, 1, stack, pcs), StopReason::no_unwind_info);
  EXPECT_EQ(unwinder.stats().no_unwind_info_modules.count("/nonexistent/libgone.so"), 1u);
  EXPECT_EQ(unwinder.stats().samples, 2u);
  EXPECT_EQ(unwinder.stats().count(StopReason::outside_mappings), 1u);
}

TEST(DwarfUnwinder, RulesAreComputedOncePerPc) {
  Captured c;
  perfscope_unwind_test::unwind_level1(c, 65536);
  sampling::ProcessTable table;
  table.seed_from_proc(::getpid());
  const auto id = table.space_of(::getpid(), 0);
  DwarfUnwinder unwinder({.regs_mask = x86_64_sample_regs()});
  const sampling::UserStack stack{1, 1, c.regs, c.stack, 65536};
  std::vector<std::uint64_t> first, again;
  unwinder.unwind_one(table.space(id), id, stack, first);
  const std::size_t rules = unwinder.rules_cached();
  const std::size_t modules = unwinder.modules_opened();
  for (int i = 0; i < 100; ++i) {
    again.clear();
    unwinder.unwind_one(table.space(id), id, stack, again);
  }
  EXPECT_EQ(again, first);
  EXPECT_EQ(unwinder.rules_cached(), rules);
  EXPECT_EQ(unwinder.modules_opened(), modules);
  EXPECT_EQ(unwinder.stats().count(StopReason::outermost), 101u);
}

}  // namespace
}  // namespace perfscope::unwind
