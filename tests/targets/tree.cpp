// ps-tree [MILLISECONDS]: a known call tree in two phases, for `report -g`, --callers/--callees,
// --time and --annotate. Runs for about MILLISECONDS of CPU time (default 1000): the first half in
// phase one, the second half in phase two, then prints its CPU time in ns.
//
//   main -> phase_one -> work_left  -> spin   (phase one: 2/3 of its work)
//                     -> work_right -> spin   (phase one: 1/3)
//   main -> phase_two -> work_right -> spin   (all of phase two)
//
// So spin is ~100% total; work_right ~67% (called by phase_two ~50% and phase_one ~17%);
// work_left ~33%. The splits are by work (identical loops), so they hold at any speed. spin's hot
// loop is the line marked HOT-LINE. Built with frame pointers and -g.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "sink.hpp"

namespace perfscope_targets {

__attribute__((noinline)) unsigned long spin(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + (x >> 17);  // HOT-LINE
  sink(x);
  return x;
}

__attribute__((noinline)) unsigned long work_left(unsigned long n, unsigned long x) {
  x = spin(n, x);
  sink(x);
  return x + 1;
}

__attribute__((noinline)) unsigned long work_right(unsigned long n, unsigned long x) {
  x = spin(n, x);
  sink(x);
  return x + 2;
}

__attribute__((noinline)) unsigned long phase_one(unsigned long chunk, unsigned long x) {
  x = work_left(2 * chunk, x);
  x = work_right(chunk, x);
  sink(x);
  return x;
}

__attribute__((noinline)) unsigned long phase_two(unsigned long chunk, unsigned long x) {
  x = work_right(3 * chunk, x);
  sink(x);
  return x;
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using perfscope_targets::cpu_ns;
  const long long ms = argc > 1 ? std::atoll(argv[1]) : 1000;
  unsigned long x = 1;
  // Chunks of ~1 ms keep each phase's split exact at any stopping point.
  while (cpu_ns() < ms * 500000LL) x = perfscope_targets::phase_one(100000, x);
  while (cpu_ns() < ms * 1000000LL) x = perfscope_targets::phase_two(100000, x);
  std::printf("%lld %lu\n", cpu_ns(), x & 1);
  return 0;
}
