// A program with a known number of system calls, for `perfscope syscalls`. Built static, so the
// dynamic loader adds no openat, read or mmap of its own. Every call goes through syscall(2) to
// the kernel, never through a libc wrapper that might choose another call.
//   known        1000 openat (500 of /dev/null, 500 failing with ENOENT), 2000 one-byte writes,
//                500 close
//   fork         200 umask here, 300 in a child, 100 in a grandchild
//   wait-signal  prints "ready PID", waits for SIGUSR1, then does what `fork` does
//   threads      200 umask here, 100 in a thread that names itself "worker"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void umasks(int n) {
  for (int i = 0; i < n; ++i) syscall(SYS_umask, 022);
}

static void known(void) {
  for (int i = 0; i < 500; ++i) {
    long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) _exit(2);
    for (int w = 0; w < 4; ++w) syscall(SYS_write, fd, "x", 1);
    syscall(SYS_close, fd);
    if (syscall(SYS_openat, AT_FDCWD, "/nonexistent/perfscope-test", O_RDONLY) >= 0) _exit(3);
  }
}

static void family(void) {
  umasks(200);
  pid_t child = fork();
  if (child == 0) {
    umasks(300);
    pid_t grandchild = fork();
    if (grandchild == 0) {
      umasks(100);
      _exit(0);
    }
    waitpid(grandchild, NULL, 0);
    _exit(0);
  }
  waitpid(child, NULL, 0);
}

static void* worker(void* arg) {
  (void)arg;
  syscall(SYS_prctl, PR_SET_NAME, "worker", 0, 0, 0);
  umasks(100);
  return NULL;
}

static void named_thread(void) {
  umasks(200);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) _exit(4);
  pthread_join(t, NULL);
}

static volatile sig_atomic_t go;
static void on_usr1(int sig) {
  (void)sig;
  go = 1;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "known";
  if (strcmp(mode, "known") == 0) {
    known();
  } else if (strcmp(mode, "fork") == 0) {
    family();
  } else if (strcmp(mode, "threads") == 0) {
    named_thread();
  } else if (strcmp(mode, "wait-signal") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (!go) pause();
    family();
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 1;
  }
  return 0;
}
