// ps-heap-attach CONTROL: a running program for `perfscope mem -p` to attach to.
// At start, early_blocks() allocates 20 blocks of 3,000 B (before any attach). Then it prints
// "ready" and reads commands, one per line, from the named pipe CONTROL, answering each with
// "done COMMAND" on standard output once it is carried out:
//   alloc N      attach_site() allocates N blocks of 1,000 B and keeps them
//   thread N     a new thread's thread_site() allocates N blocks of 500 B and frees them; joined
//   free-early   frees the 20 early blocks
//   free N       frees the first N kept blocks
// When CONTROL is closed it prints "bye" and exits 0. Between commands it waits in read(2), and it
// writes with write(2): nothing allocates but the commands.
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define kEarly 20
#define kMaxKept 100000

static void* early[kEarly];
static void* kept[kMaxKept];
static int kept_count = 0;
static int kept_freed = 0;

static void say(const char* text) {
  (void)!write(1, text, strlen(text));
}

__attribute__((noinline)) void early_blocks(void) {
  for (int i = 0; i < kEarly; ++i) {
    early[i] = malloc(3000);
    memset(early[i], 1, 3000);
  }
}

__attribute__((noinline)) void attach_site(int n) {
  for (int i = 0; i < n && kept_count < kMaxKept; ++i) {
    kept[kept_count] = malloc(1000);
    memset(kept[kept_count], 2, 1000);
    ++kept_count;
  }
}

__attribute__((noinline)) void* thread_site(void* arg) {
  const int n = (int)(long)arg;
  for (int i = 0; i < n; ++i) {
    char* volatile p = malloc(500);
    p[0] = 3;
    free(p);
  }
  return NULL;
}

static void run_command(const char* line) {
  const char* arg = strchr(line, ' ');
  const int n = arg != NULL ? atoi(arg + 1) : 0;
  if (strncmp(line, "alloc ", 6) == 0) {
    attach_site(n);
  } else if (strncmp(line, "thread ", 7) == 0) {
    pthread_t t;
    pthread_create(&t, NULL, thread_site, (void*)(long)n);
    pthread_join(t, NULL);
  } else if (strcmp(line, "free-early") == 0) {
    for (int i = 0; i < kEarly; ++i) free(early[i]);
  } else if (strncmp(line, "free ", 5) == 0) {
    for (int i = 0; i < n && kept_freed < kept_count; ++i) free(kept[kept_freed++]);
  }
  char answer[300];
  snprintf(answer, sizeof answer, "done %s\n", line);
  say(answer);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    say("usage: ps-heap-attach CONTROL_FIFO\n");
    return 2;
  }
  early_blocks();
  const int control = open(argv[1], O_RDONLY);
  if (control < 0) return 1;
  say("ready\n");
  char line[256];
  size_t used = 0;
  for (;;) {
    const ssize_t got = read(control, line + used, 1);
    if (got <= 0) break;
    if (line[used] == '\n' || used + 1 == sizeof line) {
      line[used] = '\0';
      run_command(line);
      used = 0;
    } else {
      ++used;
    }
  }
  say("bye\n");
  return 0;
}
