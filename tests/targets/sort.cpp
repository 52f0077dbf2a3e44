// ps-sort [MILLISECONDS]: sorts arrays with libc's qsort and a comparator of ours, so nearly every
// sample is compare_values ← (libc's qsort internals) ← sort_round ← main. Debian's libc has no
// frame pointers: only DWARF unwinding gets through it to main. Built like ps-chain. Runs for
// about MILLISECONDS of CPU time (default 1000), then prints its CPU time in ns.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "sink.hpp"

namespace perfscope_targets {

extern "C" __attribute__((noinline)) int compare_values(const void* a, const void* b) {
  const unsigned long x = *static_cast<const unsigned long*>(a);
  const unsigned long y = *static_cast<const unsigned long*>(b);
  // Some work per comparison, so the comparator (not the sort's moves) holds most samples.
  unsigned long hx = x, hy = y;
  for (int i = 0; i < 16; ++i) {
    hx = hx * 6364136223846793005UL + 1;
    hy = hy * 6364136223846793005UL + 1;
  }
  sink(hx ^ hy);
  return (x > y) - (x < y);
}

__attribute__((noinline)) unsigned long sort_round(unsigned long* values, std::size_t n,
                                                   unsigned long seed) {
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 2862933555777941757UL + 3037000493UL;
    values[i] = seed;
  }
  std::qsort(values, n, sizeof values[0], compare_values);
  sink(values[0]);
  return seed + values[n / 2];
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using perfscope_targets::cpu_ns;
  const long long ms = argc > 1 ? std::atoll(argv[1]) : 1000;
  static unsigned long values[4096];
  unsigned long seed = 1;
  while (cpu_ns() < ms * 1000000LL) seed = perfscope_targets::sort_round(values, 4096, seed);
  std::printf("%lld %lu\n", cpu_ns(), seed & 1);
  return 0;
}
