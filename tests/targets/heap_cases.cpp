// ps-heap-cases: C++ allocation patterns for `perfscope mem` tests, one per mode.
//   threads N   4 threads each make N allocations (operator new, sizes 16..1024) in thread_work,
//               keeping the last 64 in a ring (all four rings are live at once: a barrier waits
//               until every ring is full), freeing all but the last 10 of each thread before
//               returning (those are freed by main); prints the total
//   realloc     grow_buffer(): malloc(16) then realloc doubling to 1 MiB (17 calls), then free
//   aligned     one call each of posix_memalign (4096 B, in use_posix_memalign), aligned_alloc
//               (8192 B), memalign (3000 B), valloc (5000 B), pvalloc (100 B: a page), aligned
//               new (alignas(256) struct, 512 B) and new[] (700 B); all freed
//   lifetime    a static constructor allocates 4242 B (static_init) and an exit handler 2424 B
//               (at_exit_work); neither is freed
//   classes     one block of each of memcheck's leak classes, never freed: 1000 B still reachable
//               (keep_reachable: a global holds it), 2000 B definitely lost (drop_tree: its only
//               pointer dropped) holding the only pointer to 3000 B indirectly lost (tree_leaf),
//               4000 B possibly lost (keep_interior: a global points 16 bytes into it) and 5000 B
//               definitely lost (overwrite: its global overwritten through a volatile)
//   wait        a thread allocates 100 blocks of 1000 B in hold_blocks() and keeps them, then
//               ends (which sends its events); main prints "waiting pid PID" and waits for a
//               signal (a test signals perfscope meanwhile)
#include <pthread.h>
#include <unistd.h>

#include <malloc.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

// Keeps a pointer alive past the optimizer (so the allocation happens in the named function).
template <typename T>
__attribute__((noinline)) T* sink(T* p) {
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

// Once every thread has filled its ring, all four rings are live at once: the peak holds them
// all on every run, however the threads are scheduled (natively or under valgrind).
pthread_barrier_t g_rings_full;

__attribute__((noinline)) void thread_work(long n, std::vector<char*>* kept) {
  std::vector<char*> ring(64, nullptr);
  for (long i = 0; i < n; ++i) {
    char*& slot = ring[static_cast<std::size_t>(i) % ring.size()];
    delete[] slot;
    slot = new char[16 + static_cast<std::size_t>(i % 64) * 16];
    slot[0] = static_cast<char>(i);
    if (n >= 64 && i == 63) pthread_barrier_wait(&g_rings_full);
  }
  for (std::size_t i = 0; i < ring.size(); ++i) {
    if (i < 10) {
      kept->push_back(ring[i]);
    } else {
      delete[] ring[i];
    }
  }
}

__attribute__((noinline)) void grow_buffer() {
  void* p = std::malloc(16);
  for (std::size_t size = 32; size <= (1u << 20); size *= 2) {
    p = std::realloc(p, size);
    static_cast<char*>(p)[size - 1] = 1;
  }
  std::free(p);
}

struct alignas(256) Wide {
  char bytes[512];
};

__attribute__((noinline)) void use_posix_memalign() {
  void* p = nullptr;
  if (posix_memalign(&p, 64, 4096) == 0) std::free(sink(p));
}
__attribute__((noinline)) void use_aligned_alloc() {
  std::free(sink(aligned_alloc(512, 8192)));
}
__attribute__((noinline)) void use_memalign() {
  std::free(sink(memalign(128, 3000)));
}
__attribute__((noinline)) void use_valloc() {
  std::free(sink(valloc(5000)));
}
__attribute__((noinline)) void use_pvalloc() {
  std::free(sink(pvalloc(100)));
}
__attribute__((noinline)) void use_aligned_new() {
  delete sink(new Wide);
}
__attribute__((noinline)) void use_new_array() {
  delete[] sink(new char[700]);
}

__attribute__((noinline)) void* static_init() {
  return sink(std::malloc(4242));
}
__attribute__((noinline)) void at_exit_work() {
  sink(std::malloc(2424));
}

void* const g_static = static_init();

void* g_held[100];  // in .bss: hold_blocks' blocks stay reachable

__attribute__((noinline)) void* hold_blocks(void*) {
  for (auto& block : g_held) block = sink(std::malloc(1000));
  return nullptr;
}

void* volatile g_reachable;
char* volatile g_interior;
void* volatile g_overwritten;

__attribute__((noinline)) void keep_reachable() {
  g_reachable = sink(std::malloc(1000));
}
__attribute__((noinline)) void* tree_leaf() {
  return sink(std::malloc(3000));
}
__attribute__((noinline)) void drop_tree() {
  auto** root = static_cast<void**>(sink(std::malloc(2000)));
  root[0] = tree_leaf();
  sink(root);
}
__attribute__((noinline)) void keep_interior() {
  g_interior = static_cast<char*>(sink(std::malloc(4000))) + 16;
}
__attribute__((noinline)) void overwrite() {
  g_overwritten = sink(std::malloc(5000));
  g_overwritten = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "threads") {
    const long n = argc > 2 ? std::atol(argv[2]) : 1000000;
    pthread_barrier_init(&g_rings_full, nullptr, 4);
    std::vector<std::vector<char*>> kept(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back(thread_work, n, &kept[t]);
    for (auto& t : threads) t.join();
    long total = 0;
    for (auto& k : kept) {
      for (char* p : k) delete[] p;
      total += static_cast<long>(k.size());
    }
    std::printf("threads done %ld\n", total);
    return 0;
  }
  if (mode == "realloc") {
    grow_buffer();
    return 0;
  }
  if (mode == "aligned") {
    use_posix_memalign();
    use_aligned_alloc();
    use_memalign();
    use_valloc();
    use_pvalloc();
    use_aligned_new();
    use_new_array();
    return 0;
  }
  if (mode == "classes") {
    keep_reachable();
    drop_tree();
    keep_interior();
    overwrite();
    return 0;
  }
  if (mode == "lifetime") {
    std::atexit(at_exit_work);
    return g_static != nullptr ? 0 : 1;
  }
  if (mode == "wait") {
    // A plain pthread (std::thread allocates its state in this thread and frees it in the new
    // one, and this thread's batch of events is never sent when a signal ends the process).
    pthread_t thread;
    if (pthread_create(&thread, nullptr, hold_blocks, nullptr) != 0) return 1;
    pthread_join(thread, nullptr);
    std::printf("waiting pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    for (;;) pause();
  }
  std::fprintf(stderr, "unknown mode\n");
  return 2;
}
