// ps-deep [MILLISECONDS]: a C++ program whose samples have deep stacks, for flame graph benchmarks.
// Each round recurses 40 to 60 frames deep through four functions (perfscope_targets::level_a,
// level_b, level_c, level_d; which one at each level follows from the depth and one of sixteen
// path variants) and spends nearly all its time at the bottom, in burn_even or burn_odd. So a
// profile has a few hundred distinct stacks of 43 to 63 frames (the levels under main and
// __libc_start_call_main, the burn function on top), like a real program's deep call paths. Built
// with frame pointers (tests/CMakeLists.txt), so `perf record -g` sees every frame. Runs for about
// MILLISECONDS of CPU time (default 1000), then prints its CPU time in ns.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "sink.hpp"

namespace perfscope_targets {

__attribute__((noinline)) unsigned long burn_even(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

__attribute__((noinline)) unsigned long burn_odd(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 2862933555777941757UL + 3037000493UL;
  sink(x);
  return x;
}

unsigned long level_a(int depth, unsigned path, unsigned long x);
unsigned long level_b(int depth, unsigned path, unsigned long x);
unsigned long level_c(int depth, unsigned path, unsigned long x);
unsigned long level_d(int depth, unsigned path, unsigned long x);

// Inlined into each level (no frame of its own): the next level, or the burn at the bottom.
__attribute__((always_inline)) inline unsigned long descend(int depth, unsigned path,
                                                            unsigned long x) {
  using Level = unsigned long (*)(int, unsigned, unsigned long);
  static constexpr Level kLevels[4] = {level_a, level_b, level_c, level_d};
  // About 30 us of work a round, so the recursion itself is a small share of the samples.
  if (depth <= 0) return (path & 1) != 0 ? burn_odd(20000, x) : burn_even(20000, x);
  // Two bits of a fixed pattern, at a place that moves with depth and path and repeats only
  // every 61 levels: rounds of different depth share few frames below main.
  constexpr unsigned long long kPattern = 0x9e3779b97f4a7c15ULL;
  const unsigned pick =
      static_cast<unsigned>(kPattern >> ((static_cast<unsigned>(depth) + 7 * path) % 61)) & 3u;
  return kLevels[pick](depth, path, x);
}

// Each level uses its callee's result, so the recursive calls are never tail calls that the
// compiler could turn into jumps (which would drop frames from the stack).
__attribute__((noinline)) unsigned long level_a(int depth, unsigned path, unsigned long x) {
  x = descend(depth - 1, path, x);
  sink(x);
  return x + 1;
}

__attribute__((noinline)) unsigned long level_b(int depth, unsigned path, unsigned long x) {
  x = descend(depth - 1, path, x);
  sink(x);
  return x + 2;
}

__attribute__((noinline)) unsigned long level_c(int depth, unsigned path, unsigned long x) {
  x = descend(depth - 1, path, x);
  sink(x);
  return x + 3;
}

__attribute__((noinline)) unsigned long level_d(int depth, unsigned path, unsigned long x) {
  x = descend(depth - 1, path, x);
  sink(x);
  return x + 4;
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using perfscope_targets::cpu_ns;
  const long long ms = argc > 1 ? std::atoll(argv[1]) : 1000;
  unsigned long x = 1;
  for (unsigned round = 0; cpu_ns() < ms * 1000000LL; ++round) {
    const int depth = 40 + static_cast<int>(round * 5 % 21);  // 40..60 levels
    x = perfscope_targets::descend(depth, round % 16, x);
  }
  std::printf("%lld %lu\n", cpu_ns(), x & 1);
  return 0;
}
