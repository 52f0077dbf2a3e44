/* ps-busy MILLIONS: spins for a fixed amount of work (MILLIONS x 1e6 loop iterations) split
 * between two known functions, then prints its own CPU time in ns. Used for task-clock checks and,
 * later, as a sampling target with known hot functions (hot_inner ~3/4, warm_outer ~1/4). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) unsigned long hot_inner(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) unsigned long warm_outer(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x ^= x >> 7, x *= 0x9E3779B97F4A7C15UL;
  return hot_inner(3 * n, x);
}

int main(int argc, char** argv) {
  unsigned long millions = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
  unsigned long x = 1;
  for (unsigned long m = 0; m < millions; ++m) x = warm_outer(250000, x);
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  printf("%lld %lu\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, x & 1);
  return 0;
}
