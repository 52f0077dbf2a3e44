// ps-heap-known: a program whose heap behaviour is known to the byte, for `perfscope mem` tests.
//   (no argument)  leaky() leaks 12,345 bytes; build_cache() allocates 64 MiB in 1 KiB blocks and
//                  frees every other one; parse_input() allocates 10 MiB and frees it at once.
//                  Peak: 64 MiB + 12,345 B. Prints "done", exits 0.
//   crash          build_cache(), then a write through a null pointer (SIGSEGV)
//   quick          build_cache(), then _exit(3)
//   fork           parent_work() allocates 100,000 B; the child's child_work() 200,000 B and
//                  frees 50,000 of them, then exit(0); the parent waits and exits 0
//   exec           parent_work(), then execs itself with "child-image" (LD_PRELOAD survives)
//   child-image    child_work(), exit 0
//   vfork          parent_work(), a vfork child that _exits at once, then child_work() in the
//   parent
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define kBlocks 65536
#define kBlock 1024

static void* cache[kBlocks];  // in .bss: the kept blocks stay reachable through it

__attribute__((noinline)) void build_cache(void) {
  for (int i = 0; i < kBlocks; ++i) {
    cache[i] = malloc(kBlock);
    memset(cache[i], i & 0xff, kBlock);
  }
}

__attribute__((noinline)) void halve_cache(void) {
  for (int i = 0; i < kBlocks; i += 2) {
    free(cache[i]);
    cache[i] = NULL;
  }
}

__attribute__((noinline)) long parse_input(void) {
  char* buffer = malloc(10 * 1024 * 1024);
  memset(buffer, 'x', 10 * 1024 * 1024);
  long sum = 0;
  for (int i = 0; i < 10 * 1024 * 1024; i += 4096) sum += buffer[i];
  free(buffer);
  return sum;
}

__attribute__((noinline)) void leaky(void) {
  // The only pointer is scrubbed from this frame's memory before returning.
  char* volatile p = malloc(12345);
  memset(p, 7, 12345);
  p = NULL;
}

__attribute__((noinline)) void* parent_work(void) {
  void* p = malloc(100000);
  memset(p, 1, 100000);
  return p;
}

__attribute__((noinline)) void child_work(void) {
  void* a = malloc(150000);
  void* volatile b = malloc(50000);  // volatile: gcc drops a malloc/memset/free it can see through
  memset(a, 2, 150000);
  memset(b, 3, 50000);
  free(b);
  cache[0] = a;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "known";
  if (strcmp(mode, "known") == 0) {
    leaky();
    build_cache();
    halve_cache();
    const long sum = parse_input();
    printf("done %ld\n", sum);
    return 0;
  }
  if (strcmp(mode, "crash") == 0) {
    build_cache();
    volatile int* nowhere = NULL;
    *nowhere = 1;
    return 0;
  }
  if (strcmp(mode, "quick") == 0) {
    build_cache();
    _exit(3);
  }
  if (strcmp(mode, "fork") == 0) {
    cache[1] = parent_work();
    const pid_t child = fork();
    if (child == 0) {
      child_work();
      exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
  }
  if (strcmp(mode, "exec") == 0) {
    cache[1] = parent_work();
    execl("/proc/self/exe", argv[0], "child-image", (char*)NULL);
    return 1;
  }
  if (strcmp(mode, "vfork") == 0) {
    cache[1] = parent_work();
    const pid_t child = vfork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    child_work();
    return 0;
  }
  if (strcmp(mode, "child-image") == 0) {
    child_work();
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
