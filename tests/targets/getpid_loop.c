/* ps-getpid_loop N: makes exactly N getpid system calls (raw syscall, no libc caching). */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  for (long i = 0; i < n; ++i) syscall(SYS_getpid);
  return 0;
}
