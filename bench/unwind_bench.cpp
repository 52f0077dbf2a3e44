// DWARF unwinding of a real stack 40 frames deep (captured from this process, as the kernel would
// copy it), with the unwinder's caches warm: the steady state of a long recording, where every
// module is open and every pc's CFI rule computed. Issue 8's target: 50,000 stacks/s on one core.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include "sampling/process_table.hpp"
#include "support/own_stack.hpp"
#include "unwind/dwarf_unwinder.hpp"

namespace {

using perfscope::testing::Captured;

// Recurses `depth` frames, then captures; the result is used after each call (no tail calls).
__attribute__((noinline)) int descend_and_capture(int depth, Captured& c) {
  if (depth == 0) {
    perfscope::testing::capture_here(c, 16384);
    return 0;
  }
  const int r = descend_and_capture(depth - 1, c);
  benchmark::DoNotOptimize(r);
  return r + 1;
}

void BM_UnwindDeepStack(benchmark::State& state) {
  Captured c;
  descend_and_capture(static_cast<int>(state.range(0)), c);
  perfscope::sampling::ProcessTable table;
  table.seed_from_proc(::getpid());
  const auto id = table.space_of(::getpid(), 0);
  perfscope::unwind::DwarfUnwinder unwinder({.regs_mask = perfscope::unwind::x86_64_sample_regs()});
  const perfscope::sampling::UserStack stack{1, 1, c.regs, c.stack, 16384};
  std::vector<std::uint64_t> pcs;
  unwinder.unwind_one(table.space(id), id, stack, pcs);  // warm the caches
  for (auto _ : state) {
    pcs.clear();
    unwinder.unwind_one(table.space(id), id, stack, pcs);
    benchmark::DoNotOptimize(pcs.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["frames"] = static_cast<double>(pcs.size());
  state.counters["outermost"] =
      static_cast<double>(unwinder.stats().count(perfscope::unwind::StopReason::outermost)) /
      static_cast<double>(unwinder.stats().samples);
}
BENCHMARK(BM_UnwindDeepStack)->Arg(10)->Arg(40);

}  // namespace
