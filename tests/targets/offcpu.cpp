// ps-offcpu: where a thread's wall time goes, in known shares, for `record --off-cpu` and `--wall`.
//
// ps-offcpu mix ROUNDS: thread "ps-worker" runs ROUNDS rounds of
//   compute()     about 10 ms of its own CPU time (on the CPU; runnable when preempted),
//   nap()         nanosleep 20 ms (off the CPU, sleeping),
//   wait_reply()  a pipe read that thread "ps-answer" answers 25 ms later (sleeping),
//   spawn_wait()  vfork() of a child that sleeps 15 ms: the parent waits uninterruptibly (blocked),
// timing each phase with CLOCK_MONOTONIC, and prints the sums on stdout at the end:
//   phases compute=NS nap=NS reply=NS spawn=NS total=NS
// The test compares the profiler's attribution with these, so a slow machine changes nothing.
//
// ps-offcpu storm N: threads "ps-ping" and "ps-pong" pass a byte back and forth over two pipes N
// times; each prints its context switches (getrusage RUSAGE_THREAD, voluntary + involuntary):
//   switches ps-ping=N ps-pong=N
//
// ps-offcpu stacks N: the main thread sleeps 30 ms N times, each time from a stack of its own
// (recursion depth 1 to 100 of descend_a or descend_b): N distinct off-CPU stacks at about 33 a
// second, for the periodic drain of the off-CPU counts. Prints "stacks N" at the end.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sink.hpp"

namespace perfscope_targets {

long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

long long thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

int g_request[2], g_reply[2];
long g_rounds = 0;

__attribute__((noinline)) unsigned long spin(unsigned long n, unsigned long x) {
  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink(x);
  return x;
}

__attribute__((noinline)) void compute() {
  const long long until = thread_cpu_ns() + 10'000'000;
  unsigned long x = 1;
  while (thread_cpu_ns() < until) x = spin(20000, x);
  sink(x);
}

// libc's system call wrappers keep no frame pointer, so a frame-pointer walk from inside one
// skips its caller: each phase waits through a wrapper of its own (the frame skipped), and the
// phase function stays in the stack.
__attribute__((noinline)) void sleep_for(long ns) {
  timespec ts{0, ns};
  while (nanosleep(&ts, &ts) != 0) {
  }
  sink(0);
}

__attribute__((noinline)) void read_byte(int fd, char* c) {
  if (read(fd, c, 1) != 1) std::exit(2);
  sink(0);
}

__attribute__((noinline)) void wait_child(pid_t child) {
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) std::exit(2);
  sink(static_cast<unsigned long>(status));
}

__attribute__((noinline)) void nap() {
  sleep_for(20'000'000);
  sink(0);
}

__attribute__((noinline)) void wait_reply() {
  char c = 'q';
  if (write(g_request[1], &c, 1) != 1) std::exit(2);
  read_byte(g_reply[0], &c);
  sink(static_cast<unsigned long>(c));
}

int child_main(void*) {
  timespec ts{0, 15'000'000};
  syscall(SYS_nanosleep, &ts, nullptr);
  return 0;
}

alignas(16) char g_child_stack[64 * 1024];

// clone(CLONE_VM | CLONE_VFORK) on a stack of the child's own: the parent waits uninterruptibly
// until the child exits (vfork's wait), in this wrapper's frame.
__attribute__((noinline)) pid_t spawn_child() {
  const pid_t child = clone(child_main, g_child_stack + sizeof(g_child_stack),
                            CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  sink(0);
  return child;
}

__attribute__((noinline)) void spawn_wait() {
  wait_child(spawn_child());
  sink(0);
}

// Answers each request 25 ms after it arrives.
__attribute__((noinline)) void* answer_main(void*) {
  pthread_setname_np(pthread_self(), "ps-answer");
  char c;
  while (read(g_request[0], &c, 1) == 1) {
    timespec ts{0, 25'000'000};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (write(g_reply[1], &c, 1) != 1) break;
  }
  return nullptr;
}

__attribute__((noinline)) void* worker_main(void*) {
  pthread_setname_np(pthread_self(), "ps-worker");
  long long sums[4] = {};
  const long long start = now_ns();
  void (*phases[4])() = {compute, nap, wait_reply, spawn_wait};
  for (long r = 0; r < g_rounds; ++r) {
    for (int p = 0; p < 4; ++p) {
      const long long t = now_ns();
      phases[p]();
      sums[p] += now_ns() - t;
    }
  }
  std::printf("phases compute=%lld nap=%lld reply=%lld spawn=%lld total=%lld\n", sums[0], sums[1],
              sums[2], sums[3], now_ns() - start);
  std::fflush(stdout);
  return nullptr;
}

int g_ping[2], g_pong[2];
long g_passes = 0;

long thread_switches() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_nvcsw + u.ru_nivcsw;
}

long g_switches[2];

__attribute__((noinline)) void* ping_main(void*) {
  pthread_setname_np(pthread_self(), "ps-ping");
  char c = 'p';
  for (long i = 0; i < g_passes; ++i) {
    if (write(g_ping[1], &c, 1) != 1 || read(g_pong[0], &c, 1) != 1) std::exit(2);
  }
  g_switches[0] = thread_switches();
  return nullptr;
}

__attribute__((noinline)) void* pong_main(void*) {
  pthread_setname_np(pthread_self(), "ps-pong");
  char c;
  for (long i = 0; i < g_passes; ++i) {
    if (read(g_ping[0], &c, 1) != 1 || write(g_pong[1], &c, 1) != 1) std::exit(2);
  }
  g_switches[1] = thread_switches();
  return nullptr;
}

// Recurses `depth` times, then sleeps 30 ms: one distinct stack per (depth, function).
__attribute__((noinline)) void descend_a(int depth) {
  if (depth > 0) {
    descend_a(depth - 1);
  } else {
    sleep_for(30'000'000);
  }
  sink(static_cast<unsigned long>(depth));
}
__attribute__((noinline)) void descend_b(int depth) {
  if (depth > 0) {
    descend_b(depth - 1);
  } else {
    sleep_for(30'000'000);
  }
  sink(static_cast<unsigned long>(depth));
}

}  // namespace perfscope_targets

int main(int argc, char** argv) {
  using namespace perfscope_targets;
  if (argc != 3) {
    std::fprintf(stderr, "usage: ps-offcpu mix ROUNDS | storm PASSES | stacks N\n");
    return 2;
  }
  pthread_t a, b;
  if (std::strcmp(argv[1], "mix") == 0) {
    g_rounds = std::atol(argv[2]);
    if (pipe(g_request) != 0 || pipe(g_reply) != 0) return 1;
    pthread_create(&a, nullptr, answer_main, nullptr);
    pthread_create(&b, nullptr, worker_main, nullptr);
    // Joined in 50 ms waits, not one: the first wait starts before perfscope has loaded libc's
    // unwind table (a frame-pointer stack, which skips the join), the later ones after.
    for (;;) {
      timespec until{};
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 50'000'000;
      if (until.tv_nsec >= 1'000'000'000) {
        until.tv_nsec -= 1'000'000'000;
        until.tv_sec += 1;
      }
      if (pthread_timedjoin_np(b, nullptr, &until) == 0) break;
    }
    close(g_request[1]);  // the answering thread reads end of file and ends
    pthread_join(a, nullptr);
    return 0;
  }
  if (std::strcmp(argv[1], "storm") == 0) {
    g_passes = std::atol(argv[2]);
    if (pipe(g_ping) != 0 || pipe(g_pong) != 0) return 1;
    const long long start = now_ns();
    pthread_create(&a, nullptr, ping_main, nullptr);
    pthread_create(&b, nullptr, pong_main, nullptr);
    pthread_join(a, nullptr);
    pthread_join(b, nullptr);
    std::printf("switches ps-ping=%ld ps-pong=%ld wall_ns=%lld\n", g_switches[0], g_switches[1],
                now_ns() - start);
    return 0;
  }
  if (std::strcmp(argv[1], "stacks") == 0) {
    const long n = std::atol(argv[2]);
    for (long i = 0; i < n; ++i) {
      const int depth = 1 + static_cast<int>((i / 2) % 100);
      if (i % 2 == 0) {
        descend_a(depth);
      } else {
        descend_b(depth);
      }
    }
    std::printf("stacks %ld\n", n);
    return 0;
  }
  return 2;
}
