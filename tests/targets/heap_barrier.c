// ps-heap-barrier [BLOCKS]: a multi-threaded program whose heap peak is known to the byte and
// cannot depend on scheduling. Four threads each allocate BLOCKS blocks of 1000 bytes (default
// 2016) in hold_share(), then all wait on one barrier, so every share is live at once
// (4 x 2016 x 1000 = 8,064,000 bytes by default, plus what the C library itself holds: a few
// hundred bytes per thread), then each frees its share in drop_share() and returns.
// The program itself makes exactly 4 x BLOCKS malloc calls and as many free calls; it prints
// with write(2), so stdio allocates no buffer. Output: "barrier done BLOCKS".
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kThreads = 4, kMaxBlocks = 100000, kBlock = 1000 };

static pthread_barrier_t all_live;
static long blocks = 2016;
static void* shares[kThreads][kMaxBlocks];  // in .bss: the program allocates nothing else

__attribute__((noinline)) static void hold_share(void** share) {
  for (long i = 0; i < blocks; ++i) {
    share[i] = malloc(kBlock);
    memset(share[i], (int)(i & 0xff), kBlock);
  }
}

__attribute__((noinline)) static void drop_share(void** share) {
  for (long i = 0; i < blocks; ++i) free(share[i]);
}

static void* worker(void* arg) {
  void** share = (void**)arg;
  hold_share(share);
  pthread_barrier_wait(&all_live);
  drop_share(share);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) blocks = atol(argv[1]);
  if (blocks < 1 || blocks > kMaxBlocks) {
    static const char usage[] = "usage: ps-heap-barrier [BLOCKS 1..100000]\n";
    (void)!write(2, usage, sizeof usage - 1);
    return 2;
  }
  pthread_barrier_init(&all_live, NULL, kThreads);
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    if (pthread_create(&threads[t], NULL, worker, shares[t]) != 0) return 1;
  }
  for (int t = 0; t < kThreads; ++t) pthread_join(threads[t], NULL);
  pthread_barrier_destroy(&all_live);
  char line[64];
  const int n = snprintf(line, sizeof line, "barrier done %ld\n", blocks);
  (void)!write(1, line, (size_t)n);
  return 0;
}
