/* ps-touch_pages N: maps N fresh anonymous pages and writes one byte to each, so the process takes
 * at least N page faults. Prints the page count. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long pages = argc > 1 ? atol(argv[1]) : 1000;
  long page = sysconf(_SC_PAGESIZE);
  volatile char* p = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return 1;
  for (long i = 0; i < pages; ++i) p[i * page] = 1;
  printf("%ld\n", pages);
  return 0;
}
