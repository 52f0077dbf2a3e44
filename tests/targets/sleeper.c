/* ps-sleeper K [MS]: sleeps K times for MS milliseconds (default 1), so it is switched out at
 * least K times. With K = 0 it sleeps until killed. */
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  long k = argc > 1 ? atol(argv[1]) : 10;
  long ms = argc > 2 ? atol(argv[2]) : 1;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  for (long i = 0; k == 0 || i < k; ++i) nanosleep(&ts, NULL);
  return 0;
}
