// ps-unwind-cases MODE [ARG]: stacks with known shapes for the in-kernel unwinder's tests, built
// like distribution code (-O2 -fomit-frame-pointer; a stripped copy too). Each mode burns CPU
// for about a second (CPU time of the process), then exits 0.
//   recurse N [SECONDS]  uc_leaf <- uc_recurse x N <- main  (exactly N uc_recurse frames),
//               burning SECONDS of CPU instead of one
//   signal      uc_in_handler <- uc_handler <- [sigreturn] <- uc_interrupted <- main: the whole
//               second is spent inside a SIGALRM handler that interrupted uc_interrupted
//   dlopen LIB  dlopen()s LIB after starting, then: uc_plugin_leaf <- uc_plugin_outer (in LIB)
//               <- uc_call_plugin <- main
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile unsigned long sink_value;

static long long cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long burn_ns = 1000000000LL;

// The hot loop: about burn_ns of CPU from the process's start.
__attribute__((noinline)) unsigned long uc_leaf(unsigned long x) {
  while (cpu_ns() < burn_ns) {
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink_value = x;
  }
  return x;
}

// Not a tail call: the result is used after the call, so every level keeps its frame.
__attribute__((noinline)) unsigned long uc_recurse(int n, unsigned long x) {
  unsigned long r = n <= 1 ? uc_leaf(x) : uc_recurse(n - 1, x + (unsigned long)n);
  sink_value = r;
  return r + 1;
}

__attribute__((noinline)) void uc_in_handler(void) {
  sink_value = uc_leaf(sink_value);
}

__attribute__((noinline)) void uc_handler(int sig) {
  (void)sig;
  uc_in_handler();
  sink_value += 1;
}

static volatile int handled;

__attribute__((noinline)) void uc_interrupted(void) {
  // Spins (in user space) until the handler, which holds the CPU for the whole run, returns.
  while (!handled) sink_value = sink_value * 3 + 1;
}

__attribute__((noinline)) unsigned long uc_call_plugin(unsigned long (*outer)(unsigned long),
                                                       unsigned long x) {
  unsigned long r = outer(x);
  sink_value = r;
  return r + 1;
}

static void alarm_handler(int sig) {
  uc_handler(sig);
  handled = 1;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "recurse";
  if (strcmp(mode, "recurse") == 0) {
    const int n = argc > 2 ? atoi(argv[2]) : 100;
    if (argc > 3) burn_ns = (long long)(atof(argv[3]) * 1e9);
    sink_value = uc_recurse(n, 1);
  } else if (strcmp(mode, "signal") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = alarm_handler;
    sigaction(SIGALRM, &sa, NULL);
    // The signal arrives 1 ms later, while uc_interrupted spins.
    struct itimerval at = {{0, 0}, {0, 1000}};
    setitimer(ITIMER_REAL, &at, NULL);
    uc_interrupted();
  } else if (strcmp(mode, "dlopen") == 0 && argc > 2) {
    void* lib = dlopen(argv[2], RTLD_NOW);
    if (lib == NULL) {
      fprintf(stderr, "ps-unwind-cases: %s\n", dlerror());
      return 2;
    }
    // POSIX's way to take a function from dlsym (ISO C forbids the direct cast).
    unsigned long (*outer)(unsigned long);
    *(void**)(&outer) = dlsym(lib, "uc_plugin_outer");
    if (outer == NULL) return 2;
    sink_value = uc_call_plugin(outer, 7);
  } else {
    fprintf(stderr, "usage: ps-unwind-cases recurse N | signal | dlopen LIB\n");
    return 2;
  }
  return 0;
}
