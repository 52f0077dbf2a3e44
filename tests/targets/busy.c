/* ps-busy MILLIONS: spins for a fixed amount of work (MILLIONS x 1e6 loop iterations) split
 * between two known functions, then prints the CPU time it spent since main began, in ns (not the
 * process's whole CPU time: a forked parent's copy-on-write faults before the exec count there, and
 * under AddressSanitizer they were 3% of a 200 ms run). Used for task-clock checks and, later, as
 * a sampling target with known hot functions (hot_inner ~3/4, warm_outer ~1/4). */
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
  struct timespec start;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  unsigned long millions = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
  unsigned long x = 1;
  for (unsigned long m = 0; m < millions; ++m) x = warm_outer(250000, x);
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  const long long ns =
      (long long)(ts.tv_sec - start.tv_sec) * 1000000000LL + (ts.tv_nsec - start.tv_nsec);
  printf("%lld %lu\n", ns, x & 1);
  return 0;
}
