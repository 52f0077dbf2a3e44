// ps-threads THREADS MILLISECONDS [MILLIONS]: THREADS threads each burning about MILLISECONDS of
// CPU time in perfscope_targets::thread_burn, called from perfscope_targets::thread_main. With
// MILLIONS, each thread instead does a fixed MILLIONS x 1e6 loop iterations, and the program prints
// its wall time: the benchmarks measure a profiler's overhead as the slowdown of fixed work. The
// main thread only waits.
#include <pthread.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "sink.hpp"

namespace perfscope_targets {

__attribute__((noinline)) unsigned long thread_burn(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

long long thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

long long g_ms = 500;
long long g_millions = 0;

__attribute__((noinline)) void* thread_main(void*) {
  unsigned long x = 1;
  if (g_millions > 0) {
    for (long long m = 0; m < g_millions; ++m) x = thread_burn(1000000, x);
  } else {
    while (thread_cpu_ns() < g_ms * 1000000LL) x = thread_burn(400000, x);
  }
  sink(x);
  return nullptr;
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2;
  perfscope_targets::g_ms = argc > 2 ? std::atoll(argv[2]) : 500;
  perfscope_targets::g_millions = argc > 3 ? std::atoll(argv[3]) : 0;
  timespec start{}, end{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  std::vector<pthread_t> threads(static_cast<std::size_t>(n));
  for (auto& t : threads) pthread_create(&t, nullptr, perfscope_targets::thread_main, nullptr);
  for (auto& t : threads) pthread_join(t, nullptr);
  clock_gettime(CLOCK_MONOTONIC, &end);
  const double wall_ms = static_cast<double>(end.tv_sec - start.tv_sec) * 1e3 +
                         static_cast<double>(end.tv_nsec - start.tv_nsec) / 1e6;
  std::printf("%d threads done in %.3f ms\n", n, wall_ms);
  return 0;
}
