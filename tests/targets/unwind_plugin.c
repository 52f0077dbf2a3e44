// libps-unwind-plugin.so: loaded by `ps-unwind-cases dlopen` after it starts, so its code is
// mapped during the recording. No frame pointers, like the program.
#include <time.h>

static volatile unsigned long plugin_sink;

static long long cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) unsigned long uc_plugin_leaf(unsigned long x) {
  while (cpu_ns() < 1000000000LL) {
    for (int i = 0; i < 100000; ++i) x = x * 2862933555777941757UL + 3037000493UL;
    plugin_sink = x;
  }
  return x;
}

__attribute__((noinline)) unsigned long uc_plugin_outer(unsigned long x) {
  unsigned long r = uc_plugin_leaf(x);
  plugin_sink = r;
  return r + 1;
}
