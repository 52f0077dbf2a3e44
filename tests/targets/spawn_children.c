/* ps-spawn_children N PAGES: forks N children; each touches PAGES fresh pages and exits. The parent
 * touches nothing and waits. Counting with inherit sees at least N x PAGES page faults. */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 4;
  long pages = argc > 2 ? atol(argv[2]) : 500;
  long page = sysconf(_SC_PAGESIZE);
  for (long c = 0; c < n; ++c) {
    pid_t pid = fork();
    if (pid == 0) {
      volatile char* p = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) _exit(1);
      for (long i = 0; i < pages; ++i) p[i * page] = 1;
      _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
  }
  return 0;
}
