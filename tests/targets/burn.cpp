// ps-burn [MILLISECONDS]: a C++ program whose CPU time is known: ~75% in burn_a and ~25% in
// burn_b, both reached through main -> perfscope_targets::work -> burn_*. The split is by work
// (identical loops, 3:1 iterations), so it holds at any speed. Runs for about MILLISECONDS of CPU
// time (default 1000), then prints its CPU time in ns.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "sink.hpp"

namespace perfscope_targets {

__attribute__((noinline)) unsigned long burn_a(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

__attribute__((noinline)) unsigned long burn_b(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

__attribute__((noinline)) unsigned long work(unsigned long chunk, unsigned long x) {
  x = burn_a(3 * chunk, x);
  x = burn_b(chunk, x);
  sink(x);
  return x;
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using perfscope_targets::cpu_ns;
  const long long ms = argc > 1 ? std::atoll(argv[1]) : 1000;
  unsigned long x = 1;
  // Chunks of ~1-2 ms keep the 3:1 split exact at any stopping point. Their lengths vary (from
  // 300,000 to 504,000 in steps of 800, by a fixed sequence): a chunk of constant length can last
  // nearly a whole number of sampling periods, and then every sample lands at the same phase of the
  // chunk for hundreds of periods in a row. That is the likeliest cause of the 62% in burn_a
  // instead of 75% that CI once saw at 999 Hz on a loaded machine (a chunk there lasts ~1.8 ms).
  unsigned long step = 0;
  while (cpu_ns() < ms * 1000000LL) {
    step = (step * 37 + 11) % 256;  // visits all 256 values
    x = perfscope_targets::work(300000 + 800 * step, x);
  }
  std::printf("%lld %lu\n", cpu_ns(), x & 1);
  return 0;
}
