// ps-chain [MILLISECONDS]: main → chain_a → chain_b → chain_c → chain_hot, where chain_hot spends
// its time in mix(), a helper inlined into it. Built with -O2 -fomit-frame-pointer -g (see
// tests/CMakeLists.txt), like most distribution code: frame-pointer stacks break in it, DWARF
// unwinding through .eh_frame reaches main, and the symbolizer shows mix as an inline frame with
// its file:line. Runs for about MILLISECONDS of CPU time (default 1000), then prints its CPU
// time in ns.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "sink.hpp"

namespace perfscope_targets {

__attribute__((always_inline)) inline unsigned long mix(unsigned long x) {
  for (int i = 0; i < 64; ++i) x = x * 6364136223846793005UL + (x >> 29);  // MIX-LINE
  return x;
}

__attribute__((noinline)) unsigned long chain_hot(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = mix(x) ^ i;
  sink(x);
  return x;
}

// Each link uses its callee's result, so no call is a tail call the compiler could turn into a
// jump (which would drop the frame for every unwinder).
__attribute__((noinline)) unsigned long chain_c(unsigned long n, unsigned long x) {
  x = chain_hot(n, x);
  sink(x);
  return x + 3;
}

__attribute__((noinline)) unsigned long chain_b(unsigned long n, unsigned long x) {
  x = chain_c(n, x);
  sink(x);
  return x + 2;
}

__attribute__((noinline)) unsigned long chain_a(unsigned long n, unsigned long x) {
  x = chain_b(n, x);
  sink(x);
  return x + 1;
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using perfscope_targets::cpu_ns;
  const long long ms = argc > 1 ? std::atoll(argv[1]) : 1000;
  unsigned long x = 1;
  while (cpu_ns() < ms * 1000000LL) x = perfscope_targets::chain_a(20000, x);
  std::printf("%lld %lu\n", cpu_ns(), x & 1);
  return 0;
}
