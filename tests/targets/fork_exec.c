/* ps-fork_exec PROGRAM ARGS...: forks; the child exec()s PROGRAM ARGS; the parent burns CPU in
 * parent_spin until the child exits. Tests that samples on both sides of fork and exec are
 * attributed to the right program. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void sink(unsigned long x) {
  __asm__ volatile("" : : "r"(x) : "memory");
}

__attribute__((noinline)) unsigned long parent_spin(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  pid_t child = fork();
  if (child == 0) {
    execv(argv[1], argv + 1);
    _exit(127);
  }
  unsigned long x = 1;
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) x = parent_spin(200000, x);
  printf("%lu\n", x & 1);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
