// A small program for `perfscope scenario`, in two variants with different hot functions:
//   ps-scenario-app parse    CPU in parse_records, 8 MiB heap peak in build_index,
//                          100000 one-byte writes (more time than the program's one execve)
//   ps-scenario-app render   CPU in render_frames, otherwise the same
// Each part is its own noinline function so that profiles name them.
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

// CPU time, not wall time: on a loaded machine the hot function still gets its full share of the
// profile against the fixed work of the writes. Not in the vDSO (a system call), so it is asked
// once per 100,000 steps.
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// The hot loops are written out in each function, so each is its own leaf (self time).
#define MIX_1000(x) \
  for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL

__attribute__((noinline)) void parse_records(double seconds) {
  const double end = cpu_seconds() + seconds;
  uint64_t x = 1;
  while (cpu_seconds() < end) {
    for (int k = 0; k < 100; ++k) MIX_1000(x);
  }
  sink = x;
}

__attribute__((noinline)) void render_frames(double seconds) {
  const double end = cpu_seconds() + seconds;
  uint64_t x = 2;
  while (cpu_seconds() < end) {
    for (int k = 0; k < 100; ++k) {
      x ^= 0x9e3779b97f4a7c15ULL;
      MIX_1000(x);
    }
  }
  sink = x;
}

__attribute__((noinline)) void build_index(void) {
  char* block = malloc(8u << 20);
  if (block == NULL) _exit(2);
  memset(block, 1, 8u << 20);
  sink = (uint64_t)block[4096];
  free(block);
}

__attribute__((noinline)) void write_log(void) {
  int fd = open("/dev/null", O_WRONLY);
  for (int i = 0; i < 100000; ++i) (void)!write(fd, "x", 1);
  close(fd);
}

int main(int argc, char** argv) {
  const int render = argc > 1 && strcmp(argv[1], "render") == 0;
  const double seconds = argc > 2 ? atof(argv[2]) : 0.5;
  build_index();
  if (render) {
    render_frames(seconds);
  } else {
    parse_records(seconds);
  }
  write_log();
  return 0;
}
