// libperfscope-heap.so: the allocation tracker `perfscope mem` injects with LD_PRELOAD.
//
// Every allocation and free of the traced program becomes a small record in a per-thread batch
// (no shared lock, no allocation, no system call on the fast path); a full batch is one send(2)
// to the unix socket named by PERFSCOPE_HEAP_FD (one write(2) of at most PIPE_BUF bytes to a named
// pipe when perfscope attached to a running process). Each event takes a number
// from one process-wide counter (seq), so perfscope can apply the events of all threads in the
// order they happened. A thread that stops allocating (waiting on a lock, joining workers) would
// keep its last events in its batch and make perfscope hold everything that came after them: the
// threads that keep allocating send such a stale batch for it (see steal_stale_batches). Stacks are
// captured by walking frame pointers (or, with PERFSCOPE_HEAP_UNWIND=dwarf, by libgcc's
// _Unwind_Backtrace) and sent once per thread: a per-thread table maps a stack's hash to its id,
// and records carry the id.
//
// Constraints this file lives under:
// - It runs inside malloc. It never allocates (its buffers come from mmap) and guards against
//   re-entry per thread: allocations made while it is already inside a hook (by dlsym,
//   pthread_getattr_np, the C++ library's operator new calling malloc) pass through untracked.
// - dlsym itself may allocate before the real allocator is known: those requests are served from
//   a small static arena and never freed.
// - It is built without the C++ library and without sanitizers: it must load into any program.
// - Thread-local state uses the initial-exec TLS model (a preloaded library gets static TLS), so
//   reading it never calls __tls_get_addr, which may allocate.
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "heap_wire.hpp"

namespace wire = perfscope::heap_wire;

#define PS_EXPORT extern "C" __attribute__((visibility("default")))
#define PS_TLS __attribute__((tls_model("initial-exec"))) thread_local

namespace {

// ---------------------------------------------------------------------------------------------
// The real allocator, found with dlsym(RTLD_NEXT, ...).

using MallocFn = void* (*)(std::size_t);
using FreeFn = void (*)(void*);
using CallocFn = void* (*)(std::size_t, std::size_t);
using ReallocFn = void* (*)(void*, std::size_t);
using ReallocArrayFn = void* (*)(void*, std::size_t, std::size_t);
using MemalignFn = void* (*)(std::size_t, std::size_t);
using PosixMemalignFn = int (*)(void**, std::size_t, std::size_t);
using UsableSizeFn = std::size_t (*)(void*);
using NewFn = void* (*)(std::size_t);
using NewNothrowFn = void* (*)(std::size_t, const std::nothrow_t&);
using NewAlignFn = void* (*)(std::size_t, std::align_val_t);
using NewAlignNothrowFn = void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&);
using DeleteFn = void (*)(void*);
using DeleteAlignFn = void (*)(void*, std::align_val_t);
using ExitFn = void (*)(int);
using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using DlopenFn = void* (*)(const char*, int);

struct Real {
  MallocFn malloc;
  FreeFn free;
  CallocFn calloc;
  ReallocFn realloc;
  ReallocArrayFn reallocarray;
  MemalignFn memalign;
  PosixMemalignFn posix_memalign;
  MemalignFn aligned_alloc;
  MallocFn valloc;
  MallocFn pvalloc;
  UsableSizeFn malloc_usable_size;
  NewFn new_scalar, new_array;
  NewNothrowFn new_scalar_nothrow, new_array_nothrow;
  NewAlignFn new_scalar_align, new_array_align;
  NewAlignNothrowFn new_scalar_align_nothrow, new_array_align_nothrow;
  DeleteFn delete_scalar, delete_array;
  DeleteAlignFn delete_scalar_align, delete_array_align;
  ExitFn exit_now, exit_now_c99;
  ExecveFn execve;
  DlopenFn dlopen;
};
Real real{};

// Requests made while dlsym runs (it may call calloc for its error state) come from here.
alignas(64) char bootstrap_arena[64 * 1024];
std::atomic<std::size_t> bootstrap_used{0};

bool from_bootstrap(const void* p) {
  const auto* c = static_cast<const char*>(p);
  return c >= bootstrap_arena && c < bootstrap_arena + sizeof(bootstrap_arena);
}

void* bootstrap_alloc(std::size_t size, std::size_t align = 16) {
  std::size_t at = bootstrap_used.load(std::memory_order_relaxed);
  for (;;) {
    const std::size_t start = (at + align - 1) & ~(align - 1);
    if (start + size > sizeof(bootstrap_arena)) return nullptr;
    if (bootstrap_used.compare_exchange_weak(at, start + size)) return bootstrap_arena + start;
  }
}

// ---------------------------------------------------------------------------------------------
// Process-wide state.

enum class State : int { uninitialized, initializing, tracking, passthrough, finished };
std::atomic<State> state{State::uninitialized};

int out_fd = -1;             // the stream's write end; -1 when not tracking
bool out_is_socket = false;  // a unix stream socket (a started command), not a pipe (attached)
// The largest events packet: PIPE_BUF on a pipe (atomic writes), larger on the socket.
std::uint32_t batch_limit = wire::kPacketBytes;
wire::Unwind unwind_mode = wire::Unwind::frame_pointers;
std::atomic<std::uint64_t> next_seq{1};
std::atomic<std::uint32_t> next_stack_id{1};
std::atomic<std::uint32_t> maps_snapshots{0};
std::int32_t my_pid = 0;
bool attached = false;  // dlopen()ed into a running process by perfscope mem -p
std::uint64_t image_start_ns = 0;
pthread_key_t thread_key;
std::atomic<std::uint64_t> threads_seen{0};

std::uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

pid_t current_tid() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

// Writes one whole packet. A full pipe or socket blocks (perfscope is behind); EINTR retries.
// Any other failure (perfscope gone) stops tracking: the program goes on untraced, and is never
// killed by SIGPIPE for it. A command perfscope started writes to a unix stream socket, where
// send(MSG_NOSIGNAL) raises no SIGPIPE. A process perfscope attached to writes to a named pipe:
// there SIGPIPE is blocked around the write (two more system calls per packet), and one it raised
// is taken back.
void write_packet(const void* data, std::size_t bytes) {
  if (out_fd < 0) return;
  const char* p = static_cast<const char*>(data);
  if (out_is_socket) {
    // A send of at most kMaxPacketBytes is queued whole (one buffer of the socket: the kernel
    // splits a stream send only past half the send buffer, or past 32 KiB and a page), so packets
    // never interleave, as on a pipe.
    while (bytes > 0) {
      const ssize_t n = ::send(out_fd, p, bytes, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out_fd = -1;
        state.store(State::passthrough);
        return;
      }
      p += n;
      bytes -= static_cast<std::size_t>(n);
    }
    return;
  }
  sigset_t pipe_signal, old_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
  while (bytes > 0) {
    const ssize_t n = ::write(out_fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && errno == EPIPE && !sigismember(&old_mask, SIGPIPE)) {
        const timespec no_wait{};
        sigtimedwait(&pipe_signal, nullptr, &no_wait);
      }
      out_fd = -1;
      state.store(State::passthrough);
      break;
    }
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

// `tid`: the sending thread's, when the caller knows it (gettid is a system call per packet).
void fill_header(wire::PacketHeader& h, wire::PacketKind kind, std::uint32_t bytes, pid_t tid = 0) {
  h.magic = wire::kMagic;
  h.kind = static_cast<std::uint16_t>(kind);
  h.flags = 0;
  h.bytes = bytes;
  h.pid = my_pid;
  h.tid = tid != 0 ? tid : current_tid();
  h.reserved = 0;
  h.time_ns = now_ns(CLOCK_MONOTONIC);
}

// ---------------------------------------------------------------------------------------------
// Per-thread state: a batch being filled and the stack-id cache. Lives in one mmap'd block from a
// pool, so perfscope's reachability scan can skip all of them with one range.

constexpr std::uint32_t kCacheSlots = 4096;  // power of two
constexpr std::size_t kMaxThreads = 1024;

struct CacheSlot {
  std::uint64_t hash;
  std::uint32_t id;
  std::uint32_t reserved;
};

struct ThreadState {
  std::atomic<int> active;  // 1 while a thread owns this slot
  // 1 while someone works on `batch`: the owner from begin_event to end_event, or another thread
  // sending a stale batch for it. Uncontended but for those rare sends.
  std::atomic<std::uint32_t> lock;
  std::atomic<std::uint64_t> first_seq;  // of the first event in `batch`; 0: none
  pid_t tid;
  std::uint32_t used;  // bytes of `batch` filled, header included
  std::uint64_t last_coarse_ns;
  std::uint32_t events_since_clock;   // the clock is read every kClockEvery events
  std::uintptr_t stack_lo, stack_hi;  // for frame-pointer walks
  alignas(64) unsigned char batch[wire::kMaxPacketBytes];
  CacheSlot cache[kCacheSlots];
};

ThreadState* pool = nullptr;  // kMaxThreads entries
std::size_t pool_bytes = 0;
std::atomic<std::size_t> pool_high{0};  // slots ever claimed: [0, pool_high)

PS_TLS ThreadState* self = nullptr;
PS_TLS int hook_depth = 0;  // > 0 while inside one of our hooks

void flush(ThreadState* t) {
  if (t->used <= sizeof(wire::PacketHeader)) return;
  auto* h = reinterpret_cast<wire::PacketHeader*>(t->batch);
  fill_header(*h, wire::PacketKind::events, t->used, t->tid);
  write_packet(t->batch, t->used);
  // Clear what was sent: the reachability scan must not see stale pointers here.
  std::memset(t->batch, 0, t->used);
  t->used = sizeof(wire::PacketHeader);
  t->first_seq.store(0, std::memory_order_relaxed);
}

bool try_lock(ThreadState* t) {
  return t->lock.exchange(1, std::memory_order_acquire) == 0;
}

// The owner waits (rarely: another thread is sending its stale batch, a write that may block
// while perfscope catches up).
void lock_own(ThreadState* t) {
  while (!try_lock(t)) sched_yield();
}

void unlock(ThreadState* t) {
  t->lock.store(0, std::memory_order_release);
}

// A batch whose first event is this many events older than the newest one is sent by whichever
// thread notices it (perfscope holds at most about this many events to put them in order).
constexpr std::uint64_t kStaleEvents = 1u << 16;

// Called by a thread that has just sent its own full batch (so every few hundred events).
void steal_stale_batches(const ThreadState* me) {
  const std::uint64_t now = next_seq.load(std::memory_order_relaxed);
  const std::size_t high = pool_high.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < high; ++i) {
    ThreadState* v = &pool[i];
    if (v == me || v->active.load(std::memory_order_relaxed) != 1) continue;
    const std::uint64_t first = v->first_seq.load(std::memory_order_relaxed);
    if (first == 0 || first + kStaleEvents > now) continue;
    if (!try_lock(v)) continue;  // it is busy, so not idle: it will send its batch itself
    if (v->active.load(std::memory_order_relaxed) == 1) flush(v);
    unlock(v);
  }
}

// At the end of the image: every thread's batch. Another thread may hold its batch (running on,
// or stuck in the allocator behind a thread that crashed): wait a little, then send it anyway.
void flush_all() {
  if (pool == nullptr) return;
  for (std::size_t i = 0; i < kMaxThreads; ++i) {
    ThreadState* t = &pool[i];
    if (t->active.load(std::memory_order_acquire) != 1) continue;
    // (This thread's own lock is held when a crash hit inside a hook: the wait then gives up.)
    bool locked = try_lock(t);
    for (int tries = 0; !locked && tries < 1000; ++tries) {
      sched_yield();
      locked = try_lock(t);
    }
    flush(t);
    if (locked) unlock(t);
  }
}

void thread_exit(void* arg) {
  auto* t = static_cast<ThreadState*>(arg);
  ++hook_depth;
  lock_own(t);
  flush(t);
  std::memset(t->cache, 0, sizeof(t->cache));
  self = nullptr;
  t->active.store(0, std::memory_order_release);
  unlock(t);
  --hook_depth;
}

ThreadState* thread_state() {
  if (self != nullptr) return self;
  if (pool == nullptr) return nullptr;
  for (std::size_t i = 0; i < kMaxThreads; ++i) {
    int expected = 0;
    if (pool[i].active.compare_exchange_strong(expected, 1)) {
      ThreadState* t = &pool[i];
      t->tid = current_tid();
      t->used = sizeof(wire::PacketHeader);
      t->last_coarse_ns = 0;
      t->events_since_clock = 0;
      // The thread's stack, for validating frame pointers. pthread_getattr_np may allocate
      // (reading /proc/self/maps for the main thread): we are inside a hook, so that passes
      // through untracked.
      pthread_attr_t attr;
      void* addr = nullptr;
      std::size_t size = 0;
      if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
      }
      t->stack_lo = reinterpret_cast<std::uintptr_t>(addr);
      t->stack_hi = t->stack_lo + size;
      for (std::size_t high = pool_high.load(); high < i + 1;) {
        if (pool_high.compare_exchange_weak(high, i + 1)) break;
      }
      self = t;
      pthread_setspecific(thread_key, t);
      threads_seen.fetch_add(1, std::memory_order_relaxed);
      return t;
    }
  }
  return nullptr;  // more than kMaxThreads live threads: the rest go untracked
}

void* append(ThreadState* t, std::size_t bytes) {
  if (t->used + bytes > batch_limit) {
    flush(t);
    steal_stale_batches(t);
  }
  void* at = t->batch + t->used;
  t->used += static_cast<std::uint32_t>(bytes);
  return at;
}

// Reading even the coarse clock costs as much as the rest of an event: look every 16 events (the
// clock only moves every few milliseconds anyway), and always on a thread's first event.
// A large allocation (past glibc's mmap threshold: it costs a system call anyway) always reads
// it, so the heap timeline places big steps right.
constexpr std::uint32_t kClockEvery = 16;
constexpr std::size_t kAlwaysTimed = 128 * 1024;

void note_time(ThreadState* t, bool always = false) {
  if (t->events_since_clock++ % kClockEvery != 0 && !always) return;
  const std::uint64_t coarse = now_ns(CLOCK_MONOTONIC_COARSE);
  if (coarse == t->last_coarse_ns) return;
  t->last_coarse_ns = coarse;
  auto* r = static_cast<wire::TimeRecord*>(append(t, sizeof(wire::TimeRecord)));
  r->word0 = wire::record_word(wire::RecordType::time, 0);
  r->time_ns = coarse;
}

// ---------------------------------------------------------------------------------------------
// Stacks.

struct Frames {
  std::uintptr_t pc[wire::kMaxFrames];
  std::uint32_t count;
};

// Walks the frame-pointer chain starting at `fp` (the hook's own frame): fp[1] is the return
// address into the allocating function, fp[0] that function's frame pointer, and so on. Every
// frame pointer must lie in this thread's stack above the previous one; a chain through code built
// without frame pointers ends early instead of reading wild memory.
__attribute__((always_inline)) inline void walk_frame_pointers(const ThreadState* t,
                                                               std::uintptr_t fp, Frames& out) {
  const auto* hook = reinterpret_cast<const std::uintptr_t*>(fp);
  out.pc[0] = hook[1];
  out.count = 1;
  std::uintptr_t lo = fp + 16;
  fp = hook[0];
  while (out.count < wire::kMaxFrames) {
    if (fp < lo || fp + 16 > t->stack_hi || (fp & 7) != 0) break;
    const auto* frame = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t ret = frame[1];
    if (ret < 4096) break;
    out.pc[out.count++] = ret;
    lo = fp + 16;
    fp = frame[0];
  }
}

struct DwarfWalk {
  Frames* out;
  std::uintptr_t first;  // the hook's return address: frames before it are our own
  bool started;
};

_Unwind_Reason_Code dwarf_frame(struct _Unwind_Context* ctx, void* arg) {
  auto* w = static_cast<DwarfWalk*>(arg);
  const std::uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  if (!w->started) {
    if (ip != w->first) return _URC_NO_REASON;
    w->started = true;
  }
  w->out->pc[w->out->count++] = ip;
  return w->out->count < wire::kMaxFrames ? _URC_NO_REASON : _URC_END_OF_STACK;
}

std::uint64_t hash_frames(const Frames& f) {
  std::uint64_t h = 0x9e3779b97f4a7c15u ^ f.count;
  for (std::uint32_t i = 0; i < f.count; ++i) {
    h ^= f.pc[i];
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
  }
  return h == 0 ? 1 : h;
}

// The id of this stack in this process, sending its frames the first time this thread sees it.
std::uint32_t stack_id(ThreadState* t, const Frames& f) {
  const std::uint64_t h = hash_frames(f);
  CacheSlot& slot = t->cache[h & (kCacheSlots - 1)];
  if (slot.hash == h) return slot.id;
  const std::uint32_t id = next_stack_id.fetch_add(1, std::memory_order_relaxed);
  slot.hash = h;
  slot.id = id;
  const std::size_t bytes = sizeof(wire::StackRecordHead) + f.count * sizeof(std::uint64_t);
  auto* head = static_cast<wire::StackRecordHead*>(append(t, bytes));
  head->word0 = wire::record_word(wire::RecordType::stack, f.count);
  head->id = id;
  head->reserved = 0;
  std::memcpy(head + 1, f.pc, f.count * sizeof(std::uint64_t));
  return id;
}

// ---------------------------------------------------------------------------------------------
// Setup.

// Attached: the definition the program's own calls reach. dlsym(RTLD_DEFAULT) can answer with a
// non-PIE executable's PLT entry (the function's canonical address when the executable takes it,
// as python3 does for malloc): calling that would jump through the GOT entry we patch, back into
// our hook. Such an answer is replaced by the first module, in load order, that defines the name.
ElfW(Addr) own_base = 0;  // attached: this library's load address (its own GOT is left alone)

// The loaded modules in load order (the order symbol lookup follows), collected first: dlopen is
// not called from inside dl_iterate_phdr.
struct Module {
  const char* name;
  ElfW(Addr) base;
};
constexpr std::size_t kMaxModules = 1024;
Module modules[kMaxModules];
std::size_t module_count = 0;

int collect_module(struct dl_phdr_info* info, std::size_t, void*) {
  if (module_count < kMaxModules && info->dlpi_name != nullptr && info->dlpi_name[0] != '\0' &&
      info->dlpi_addr != own_base) {
    modules[module_count++] = {info->dlpi_name, info->dlpi_addr};
  }
  return 0;
}

// `p` is the start of a symbol defined in the module at `base` (any module but this library
// when base is 0: a process started under perfscope mem has it preloaded, first in the global
// scope); a canonical PLT entry's symbol is undefined (SHN_UNDEF), though dladdr names it.
bool defined_at(void* p, ElfW(Addr) base) {
  Dl_info where{};
  ElfW(Sym)* sym = nullptr;
  return p != nullptr && dladdr1(p, &where, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) != 0 &&
         sym != nullptr && sym->st_shndx != SHN_UNDEF && where.dli_saddr == p &&
         (base == 0 ? reinterpret_cast<ElfW(Addr)>(where.dli_fbase) != own_base
                    : reinterpret_cast<ElfW(Addr)>(where.dli_fbase) == base);
}

void* definition_of(const char* name) {
  void* p = dlsym(RTLD_DEFAULT, name);
  if (defined_at(p, 0)) return p;
  if (module_count == 0) dl_iterate_phdr(collect_module, nullptr);
  for (std::size_t i = 0; i < module_count && real.dlopen != nullptr; ++i) {
    void* h = real.dlopen(modules[i].name, RTLD_LAZY | RTLD_NOLOAD);
    if (h == nullptr) continue;
    p = dlsym(h, name);
    dlclose(h);
    if (defined_at(p, modules[i].base)) return p;
  }
  return nullptr;
}

template <typename F>
void resolve(F& slot, const char* name, void* where) {
  slot = reinterpret_cast<F>(where == RTLD_DEFAULT ? definition_of(name) : dlsym(where, name));
}

// The real functions: the next definition after ours when preloaded (RTLD_NEXT); when dlopen()ed
// into a running process (attach), the one the program already uses (RTLD_DEFAULT: this library
// is not in the global scope then).
void resolve_real(void* where) {
  resolve(real.malloc, "malloc", where);
  resolve(real.free, "free", where);
  resolve(real.calloc, "calloc", where);
  resolve(real.realloc, "realloc", where);
  resolve(real.reallocarray, "reallocarray", where);
  resolve(real.memalign, "memalign", where);
  resolve(real.posix_memalign, "posix_memalign", where);
  resolve(real.aligned_alloc, "aligned_alloc", where);
  resolve(real.valloc, "valloc", where);
  resolve(real.pvalloc, "pvalloc", where);
  resolve(real.malloc_usable_size, "malloc_usable_size", where);
  resolve(real.new_scalar, "_Znwm", where);
  resolve(real.new_array, "_Znam", where);
  resolve(real.new_scalar_nothrow, "_ZnwmRKSt9nothrow_t", where);
  resolve(real.new_array_nothrow, "_ZnamRKSt9nothrow_t", where);
  resolve(real.new_scalar_align, "_ZnwmSt11align_val_t", where);
  resolve(real.new_array_align, "_ZnamSt11align_val_t", where);
  resolve(real.new_scalar_align_nothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t", where);
  resolve(real.new_array_align_nothrow, "_ZnamSt11align_val_tRKSt9nothrow_t", where);
  resolve(real.delete_scalar, "_ZdlPv", where);
  resolve(real.delete_array, "_ZdaPv", where);
  resolve(real.delete_scalar_align, "_ZdlPvSt11align_val_t", where);
  resolve(real.delete_array_align, "_ZdaPvSt11align_val_t", where);
  resolve(real.exit_now, "_exit", where);
  resolve(real.exit_now_c99, "_Exit", where);
  resolve(real.execve, "execve", where);
  resolve(real.dlopen, "dlopen", where);
}

// The per-thread pool; false when it cannot be mapped.
bool map_pool() {
  pool_bytes = sizeof(ThreadState) * kMaxThreads;
  void* mem = mmap(nullptr, pool_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  pool = static_cast<ThreadState*>(mem);
  return true;
}

std::size_t read_whole(const char* path, char* buf, std::size_t cap) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t used = 0;
  while (used < cap) {
    const ssize_t n = ::read(fd, buf + used, cap - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return used;
}

// Sends /proc/self/maps in packet-sized chunks (perfscope symbolizes with it after we are gone).
void send_maps() {
  constexpr std::size_t kCap = 4 << 20;
  void* mem = mmap(nullptr, kCap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  auto* text = static_cast<char*>(mem);
  const std::size_t len = read_whole("/proc/self/maps", text, kCap);
  const std::uint32_t snapshot = maps_snapshots.fetch_add(1) + 1;
  constexpr std::size_t kRoom =
      wire::kPacketBytes - sizeof(wire::PacketHeader) - sizeof(wire::MapsBody);
  alignas(8) unsigned char packet[wire::kPacketBytes];
  std::size_t at = 0;
  do {
    const std::size_t n = len - at < kRoom ? len - at : kRoom;
    const std::size_t bytes =
        (sizeof(wire::PacketHeader) + sizeof(wire::MapsBody) + n + 7) & ~std::size_t{7};
    std::memset(packet, 0, bytes);
    fill_header(*reinterpret_cast<wire::PacketHeader*>(packet), wire::PacketKind::maps,
                static_cast<std::uint32_t>(bytes));
    auto* body = reinterpret_cast<wire::MapsBody*>(packet + sizeof(wire::PacketHeader));
    body->snapshot = snapshot;
    body->offset = static_cast<std::uint32_t>(at);
    body->length = static_cast<std::uint32_t>(n);
    body->last = at + n == len ? 1 : 0;
    std::memcpy(body + 1, text + at, n);
    write_packet(packet, bytes);
    at += n;
  } while (at < len);
  munmap(mem, kCap);
}

// One packet made of a header and a fixed-size body.
template <typename Body>
void send_body(wire::PacketKind kind, const Body& body) {
  struct {
    wire::PacketHeader h;
    Body b;
  } packet{};
  static_assert(sizeof(packet) % 8 == 0);
  fill_header(packet.h, kind, sizeof(packet));
  packet.b = body;
  write_packet(&packet, sizeof(packet));
}

void send_hello(wire::Origin origin, std::int32_t parent) {
  wire::HelloBody b{};
  b.parent_pid = parent;
  b.origin = static_cast<std::uint32_t>(origin);
  b.unwind = static_cast<std::uint32_t>(unwind_mode);
  b.start_ns = image_start_ns;
  b.first_seq = next_seq.load();
  const ssize_t n = readlink("/proc/self/exe", b.exe, sizeof(b.exe) - 1);
  b.exe[n > 0 ? n : 0] = '\0';
  send_body(wire::PacketKind::hello, b);
  send_maps();
}

void send_bye(wire::ByeReason reason, std::int32_t detail) {
  wire::ByeBody b{};
  b.reason = static_cast<std::uint32_t>(reason);
  b.detail = detail;
  b.threads = threads_seen.load();
  send_body(wire::PacketKind::bye, b);
}

// Where the live part of the exiting thread's stack begins, as memcheck sees it when the process
// ends: by then exit() has run every handler and _dl_fini has run every destructor (this one among
// them), so their frames are dead, and the stale pointers in their slots (a block an exit handler
// dropped) must not keep blocks reachable. The frames are walked up to exit(); the boundary is the
// CFA of the frame its callee (__run_exit_handlers) called: _dl_fini or an exit handler. 0 when
// exit() is not on the stack.
struct ExitWalk {
  std::uintptr_t cfa[2];  // the CFAs of the last two frames seen, older first
  std::uintptr_t boundary;
};

_Unwind_Reason_Code exit_frame(struct _Unwind_Context* ctx, void* arg) {
  auto* w = static_cast<ExitWalk*>(arg);
  const std::uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  Dl_info info{};
  void* sym = nullptr;
  if (dladdr1(reinterpret_cast<void*>(ip - 1), &info, &sym, RTLD_DL_SYMENT) != 0 &&
      info.dli_sname != nullptr && std::strcmp(info.dli_sname, "exit") == 0) {
    w->boundary = w->cfa[0];
    return _URC_END_OF_STACK;
  }
  w->cfa[0] = w->cfa[1];
  w->cfa[1] = _Unwind_GetCFA(ctx);
  return _URC_NO_REASON;
}

std::uintptr_t exit_stack_boundary() {
  ExitWalk w{};
  _Unwind_Backtrace(exit_frame, &w);
  return w.boundary;
}

// The end of this image: everything buffered goes out, then the final memory map, then (for a
// normal exit) the request for a reachability scan, waiting for perfscope to finish reading our
// memory, then bye. Anything allocated afterwards goes untracked.
void finish(wire::ByeReason reason, std::int32_t detail) {
  // A vfork child shares our memory (and state) with its parent: its _exit or exec must not end
  // the parent's tracking.
  if (static_cast<std::int32_t>(getpid()) != my_pid) return;
  State expected = State::tracking;
  if (!state.compare_exchange_strong(expected, State::finished)) return;
  ++hook_depth;
  flush_all();
  send_maps();
  // Attached, blocks from before are unknown: no leak classes without them, so no scan.
  if (reason == wire::ByeReason::exit && !attached && out_fd >= 0 && prctl(PR_GET_DUMPABLE) == 1) {
    int reply[2];
    if (pipe2(reply, O_CLOEXEC) == 0) {
      wire::ScanBody b{};
      b.reply_fd = reply[1];
      b.exclude_begin = reinterpret_cast<std::uint64_t>(pool);
      b.exclude_end = reinterpret_cast<std::uint64_t>(pool) + pool_bytes;
      if (self != nullptr && self->stack_hi != 0) {
        b.dead_stack_begin = self->stack_lo;
        b.dead_stack_end = reinterpret_cast<std::uint64_t>(__builtin_frame_address(0));
        const std::uintptr_t boundary = exit_stack_boundary();
        if (boundary > b.dead_stack_end && boundary <= self->stack_hi) {
          b.dead_stack_end = boundary;
        }
      }
      send_body(wire::PacketKind::scan_request, b);
      // perfscope opens /proc/PID/fd/reply[1] and writes one byte; give up after a minute.
      pollfd pfd{reply[0], POLLIN, 0};
      for (int waited = 0; waited < 600; ++waited) {
        const int r = poll(&pfd, 1, 100);
        if (r > 0 || out_fd < 0) break;
        if (r < 0 && errno != EINTR) break;
      }
      ::close(reply[0]);
      ::close(reply[1]);
    }
  }
  send_bye(reason, detail);
  --hook_depth;
}

void crash_handler(int sig) {
  // SA_RESETHAND restored the default action: send what we have, then die of the same signal.
  finish(wire::ByeReason::signal, sig);
  raise(sig);
}

void install_crash_handlers() {
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa {};
    sa.sa_handler = crash_handler;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

void before_fork() {
  if (state.load() != State::tracking) return;
  ++hook_depth;
  if (self != nullptr) {
    lock_own(self);
    flush(self);
    unlock(self);
  }
  --hook_depth;
}

void after_fork_in_child() {
  if (state.load() != State::tracking) return;
  ++hook_depth;
  const std::int32_t parent = my_pid;
  my_pid = static_cast<std::int32_t>(getpid());
  // Only this thread survives the fork: other threads' slots and unsent batches are not ours.
  for (std::size_t i = 0; i < kMaxThreads; ++i) {
    if (&pool[i] == self) continue;
    pool[i].active.store(0);
    pool[i].lock.store(0);
    pool[i].first_seq.store(0);
    pool[i].used = sizeof(wire::PacketHeader);
  }
  if (self != nullptr) {
    self->tid = current_tid();
    self->lock.store(0);
    self->first_seq.store(0);
    self->used = sizeof(wire::PacketHeader);
    // Our stack ids are the parent's: keep them (the child inherits the counter and the cache,
    // and perfscope keeps a separate id table per process, seeded from the parent's).
  }
  threads_seen.store(self != nullptr ? 1 : 0);
  image_start_ns = now_ns(CLOCK_MONOTONIC);
  send_hello(wire::Origin::forked, parent);
  --hook_depth;
}

void at_exit_destructor() {
  finish(wire::ByeReason::exit, 0);
}

// The largest packet one send() on the socket queues whole: Linux splits a unix stream send
// into buffers of at most half the send buffer less 64 bytes (and 32 KiB and a page).
std::uint32_t socket_packet_limit(int fd) {
  int sndbuf = 0;
  socklen_t len = sizeof(sndbuf);
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) != 0) return wire::kPacketBytes;
  const long half = (static_cast<long>(sndbuf) / 2 - 64) & ~7L;
  if (half >= static_cast<long>(wire::kMaxPacketBytes)) return wire::kMaxPacketBytes;
  return half > static_cast<long>(wire::kPacketBytes) ? static_cast<std::uint32_t>(half)
                                                      : wire::kPacketBytes;
}

// Called once, from the first hook. Returns with state tracking or passthrough.
void initialize() {
  State expected = State::uninitialized;
  if (!state.compare_exchange_strong(expected, State::initializing)) {
    while (state.load() == State::initializing) sched_yield();
    return;
  }
  ++hook_depth;
  resolve_real(RTLD_NEXT);

  // PERFSCOPE_HEAP_FD=FD:INODE. The inode check makes sure FD is still our socket: a program may
  // have closed it and opened something else under the same number.
  const char* spec = getenv(wire::kEnvFd);
  int fd = -1;
  unsigned long long inode = 0;
  if (spec != nullptr) {
    char* end = nullptr;
    fd = static_cast<int>(strtol(spec, &end, 10));
    if (end != nullptr && *end == ':') inode = strtoull(end + 1, nullptr, 10);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0 || !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) ||
        st.st_ino != inode) {
      fd = -1;
    }
    out_is_socket = fd >= 0 && S_ISSOCK(st.st_mode);
    if (out_is_socket) batch_limit = socket_packet_limit(fd);
  }
  const char* mode = getenv(wire::kEnvUnwind);
  if (mode != nullptr && std::strcmp(mode, "dwarf") == 0) unwind_mode = wire::Unwind::dwarf;

  if (real.malloc == nullptr || real.free == nullptr || fd < 0) {
    state.store(State::passthrough);
    --hook_depth;
    return;
  }
  if (!map_pool()) {
    state.store(State::passthrough);
    --hook_depth;
    return;
  }
  out_fd = fd;
  my_pid = static_cast<std::int32_t>(getpid());
  image_start_ns = now_ns(CLOCK_MONOTONIC);
  pthread_key_create(&thread_key, thread_exit);
  pthread_atfork(before_fork, nullptr, after_fork_in_child);
  install_crash_handlers();
  // An exec'd image inherits the pipe and the environment and starts here too: perfscope tells
  // it from a new process by its pid, already seen.
  send_hello(wire::Origin::started, static_cast<int>(getppid()));
  state.store(State::tracking);
  --hook_depth;
}

// ---------------------------------------------------------------------------------------------
// Recording.

// True when this call should be recorded; sets up the thread on its first event.
__attribute__((always_inline)) inline ThreadState* begin_event() {
  if (hook_depth > 0) return nullptr;
  const State s = state.load(std::memory_order_relaxed);
  if (s != State::tracking) {
    if (s != State::uninitialized) return nullptr;
    initialize();
    if (state.load() != State::tracking) return nullptr;
  }
  ++hook_depth;
  ThreadState* t = thread_state();
  if (t == nullptr) {
    --hook_depth;
    return nullptr;
  }
  lock_own(t);
  return t;
}

inline void end_event(ThreadState* t) {
  unlock(t);
  --hook_depth;
}

// The event's place in the process-wide order. Relaxed is enough: a free's number is taken before
// the block goes back to the allocator and an allocation's after the allocator returned it, and
// the allocator's own synchronization orders those two calls when they meet on one address.
inline std::uint64_t take_seq() {
  return next_seq.fetch_add(1, std::memory_order_relaxed);
}

inline void note_first(ThreadState* t, std::uint64_t seq) {
  if (t->first_seq.load(std::memory_order_relaxed) == 0) {
    t->first_seq.store(seq, std::memory_order_relaxed);
  }
}

__attribute__((always_inline)) inline void capture(ThreadState* t, std::uintptr_t fp,
                                                   std::uintptr_t ret, Frames& f) {
  if (unwind_mode == wire::Unwind::dwarf) {
    f.count = 0;
    DwarfWalk w{&f, ret, false};
    _Unwind_Backtrace(dwarf_frame, &w);
    if (f.count == 0) {  // the hook's caller was not found: keep at least it
      f.pc[0] = ret;
      f.count = 1;
    }
  } else {
    walk_frame_pointers(t, fp, f);
  }
}

void record_alloc(ThreadState* t, wire::AllocFn fn, void* p, std::size_t size, const Frames& f) {
  note_time(t, size >= kAlwaysTimed);
  const std::uint32_t id = stack_id(t, f);
  const std::uint64_t seq = take_seq();
  auto* r = static_cast<wire::AllocRecord*>(append(t, sizeof(wire::AllocRecord)));
  note_first(t, seq);
  r->word0 = static_cast<std::uint64_t>(wire::RecordType::alloc) |
             (static_cast<std::uint64_t>(fn) << 8) | (seq << 16);
  r->address = reinterpret_cast<std::uint64_t>(p);
  r->size = size;
  r->stack_id = id;
  r->reserved = 0;
}

// `seq` was taken before the block was released (take_seq).
void record_free(ThreadState* t, void* p, std::uint64_t seq) {
  note_time(t);
  auto* r = static_cast<wire::FreeRecord*>(append(t, sizeof(wire::FreeRecord)));
  note_first(t, seq);
  r->word0 = wire::record_word(wire::RecordType::free, seq);
  r->address = reinterpret_cast<std::uint64_t>(p);
}

// A seq taken for a free that did not happen.
void record_skip(ThreadState* t, std::uint64_t seq) {
  auto* r = static_cast<wire::SkipRecord*>(append(t, sizeof(wire::SkipRecord)));
  note_first(t, seq);
  r->word0 = wire::record_word(wire::RecordType::skip, seq);
}

// Each hook below: pass through when not recording; otherwise call the real function with the
// guard up (so whatever it allocates inside is not counted twice) and record the result with
// the stack of the hook's caller.
#define PS_STACK_ARGS                                           \
  reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)), \
      reinterpret_cast<std::uintptr_t>(__builtin_return_address(0))

__attribute__((always_inline)) inline void* track_alloc(wire::AllocFn fn, void* p, std::size_t size,
                                                        ThreadState* t, std::uintptr_t fp,
                                                        std::uintptr_t ret) {
  if (p != nullptr) {
    Frames f;
    capture(t, fp, ret, f);
    record_alloc(t, fn, p, size, f);
  }
  end_event(t);
  return p;
}

// Releases `p` with `release` (the real free or delete), numbered and recorded.
template <typename Release>
__attribute__((always_inline)) inline void track_free(void* p, ThreadState* t, Release release) {
  const std::uint64_t seq = take_seq();
  release();
  record_free(t, p, seq);
  end_event(t);
}

// For the passthrough paths: makes sure the real functions are known (unless we are inside
// dlsym's own allocations, where they cannot be yet).
bool ready() {
  if (state.load(std::memory_order_relaxed) == State::uninitialized) initialize();
  return real.malloc != nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The C allocator.

PS_EXPORT void* malloc(std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.malloc(size) : bootstrap_alloc(size);
  return track_alloc(wire::AllocFn::malloc, real.malloc(size), size, t, PS_STACK_ARGS);
}

PS_EXPORT void free(void* p) {
  if (p == nullptr) return;
  if (from_bootstrap(p)) return;  // never freed: the arena is static
  ThreadState* t = begin_event();
  if (t == nullptr) {
    if (ready()) real.free(p);
    return;
  }
  track_free(p, t, [p] { real.free(p); });
}

PS_EXPORT void* calloc(std::size_t n, std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) {
    if (ready() && real.calloc != nullptr) return real.calloc(n, size);
    // dlsym asking for memory before the real calloc is known: static memory, already zero.
    std::size_t bytes = 0;
    return __builtin_mul_overflow(n, size, &bytes) ? nullptr : bootstrap_alloc(bytes);
  }
  return track_alloc(wire::AllocFn::calloc, real.calloc(n, size), n * size, t, PS_STACK_ARGS);
}

namespace {
__attribute__((always_inline)) inline void* realloc_impl(void* old, std::size_t size,
                                                         ThreadState* t, std::uintptr_t fp,
                                                         std::uintptr_t ret) {
  if (old == nullptr)
    return track_alloc(wire::AllocFn::realloc, real.realloc(old, size), size, t, fp, ret);
  const std::uint64_t free_seq = take_seq();  // before `old` may go back to the allocator
  void* p = real.realloc(old, size);
  if (p != nullptr || size == 0) {
    record_free(t, old, free_seq);
  } else {
    record_skip(t, free_seq);  // failed: `old` is still live
  }
  return track_alloc(wire::AllocFn::realloc, p, size, t, fp, ret);
}
}  // namespace

PS_EXPORT void* realloc(void* old, std::size_t size) {
  if (from_bootstrap(old)) {  // move a bootstrap block into real memory (it is never freed)
    void* p = malloc(size);
    const std::size_t room = static_cast<std::size_t>(bootstrap_arena + sizeof(bootstrap_arena) -
                                                      static_cast<char*>(old));
    if (p != nullptr) std::memcpy(p, old, size < room ? size : room);
    return p;
  }
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.realloc(old, size) : nullptr;
  return realloc_impl(old, size, t, PS_STACK_ARGS);
}

PS_EXPORT void* reallocarray(void* old, std::size_t n, std::size_t size) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.realloc(old, bytes) : nullptr;
  return realloc_impl(old, bytes, t, PS_STACK_ARGS);
}

PS_EXPORT int posix_memalign(void** out, std::size_t align, std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.posix_memalign(out, align, size) : ENOMEM;
  const int rc = real.posix_memalign(out, align, size);
  track_alloc(wire::AllocFn::posix_memalign, rc == 0 ? *out : nullptr, size, t, PS_STACK_ARGS);
  return rc;
}

PS_EXPORT void* aligned_alloc(std::size_t align, std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.aligned_alloc(align, size) : nullptr;
  return track_alloc(wire::AllocFn::aligned_alloc, real.aligned_alloc(align, size), size, t,
                     PS_STACK_ARGS);
}

PS_EXPORT void* memalign(std::size_t align, std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) {
    if (ready() && real.memalign != nullptr) return real.memalign(align, size);
    return bootstrap_alloc(size, align < 16 ? 16 : align);
  }
  return track_alloc(wire::AllocFn::memalign, real.memalign(align, size), size, t, PS_STACK_ARGS);
}

PS_EXPORT void* valloc(std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.valloc(size) : nullptr;
  return track_alloc(wire::AllocFn::valloc, real.valloc(size), size, t, PS_STACK_ARGS);
}

PS_EXPORT void* pvalloc(std::size_t size) {
  ThreadState* t = begin_event();
  if (t == nullptr) return ready() ? real.pvalloc(size) : nullptr;
  return track_alloc(wire::AllocFn::pvalloc, real.pvalloc(size), size, t, PS_STACK_ARGS);
}

PS_EXPORT std::size_t malloc_usable_size(void* p) {
  if (p == nullptr) return 0;
  if (from_bootstrap(p)) return 0;  // size unknown; never more than asked for is safe
  return ready() ? real.malloc_usable_size(p) : 0;
}

// ---------------------------------------------------------------------------------------------
// C++ operator new and delete, every form. The real ones (the C++ library's, found lazily: a C
// program has none) keep their semantics: new_handler loops, bad_alloc, nothrow. Their inner call
// to malloc happens with the guard up and is not counted again.

namespace {
// Our own nothrow tag: std::nothrow lives in the C++ library, which this file does not link.
constexpr std::nothrow_t kNothrow{};

// The throwing forms first try the C++ library's nothrow form with the guard up (it calls the
// throwing form inside a try block, which lands back here untracked, then malloc, untracked too).
// Only when that fails do they call the throwing form with the guard down, so new_handler and
// bad_alloc behave as without us and no exception ever passes a raised guard.
template <typename Fn, typename NothrowFn, typename... Args>
__attribute__((always_inline)) inline void* new_impl(Fn& real_fn, NothrowFn& real_nothrow,
                                                     wire::AllocFn kind, std::size_t size,
                                                     std::uintptr_t fp, std::uintptr_t ret,
                                                     Args... args) {
  ThreadState* t = begin_event();
  if (t == nullptr) return real_fn(size, args...);
  void* p = real_nothrow(size, args..., kNothrow);
  if (p == nullptr) {
    end_event(t);
    p = real_fn(size, args...);  // new_handler, then bad_alloc
    t = begin_event();
    if (t == nullptr) return p;
  }
  return track_alloc(kind, p, size, t, fp, ret);
}

template <typename Fn, typename... Args>
__attribute__((always_inline)) inline void* new_nothrow_impl(Fn& real_fn, wire::AllocFn kind,
                                                             std::size_t size, std::uintptr_t fp,
                                                             std::uintptr_t ret, Args... args) {
  ThreadState* t = begin_event();
  if (t == nullptr) return real_fn(size, args..., kNothrow);
  return track_alloc(kind, real_fn(size, args..., kNothrow), size, t, fp, ret);
}

template <typename Fn, typename... Args>
__attribute__((always_inline)) inline void delete_impl(Fn& real_fn, void* p, Args... args) {
  if (p == nullptr) return;
  ThreadState* t = begin_event();
  if (t == nullptr) {
    real_fn(p, args...);
    return;
  }
  track_free(p, t, [&] { real_fn(p, args...); });
}
}  // namespace

void* operator new(std::size_t size) {
  return new_impl(real.new_scalar, real.new_scalar_nothrow, wire::AllocFn::new_scalar, size,
                  PS_STACK_ARGS);
}
void* operator new[](std::size_t size) {
  return new_impl(real.new_array, real.new_array_nothrow, wire::AllocFn::new_array, size,
                  PS_STACK_ARGS);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow_impl(real.new_scalar_nothrow, wire::AllocFn::new_scalar, size, PS_STACK_ARGS);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow_impl(real.new_array_nothrow, wire::AllocFn::new_array, size, PS_STACK_ARGS);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return new_impl(real.new_scalar_align, real.new_scalar_align_nothrow, wire::AllocFn::new_scalar,
                  size, PS_STACK_ARGS, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return new_impl(real.new_array_align, real.new_array_align_nothrow, wire::AllocFn::new_array,
                  size, PS_STACK_ARGS, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return new_nothrow_impl(real.new_scalar_align_nothrow, wire::AllocFn::new_scalar, size,
                          PS_STACK_ARGS, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return new_nothrow_impl(real.new_array_align_nothrow, wire::AllocFn::new_array, size,
                          PS_STACK_ARGS, align);
}

void operator delete(void* p) noexcept {
  delete_impl(real.delete_scalar, p);
}
void operator delete[](void* p) noexcept {
  delete_impl(real.delete_array, p);
}
void operator delete(void* p, std::size_t) noexcept {
  delete_impl(real.delete_scalar, p);
}
void operator delete[](void* p, std::size_t) noexcept {
  delete_impl(real.delete_array, p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  delete_impl(real.delete_scalar, p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  delete_impl(real.delete_array, p);
}
void operator delete(void* p, std::align_val_t a) noexcept {
  delete_impl(real.delete_scalar_align, p, a);
}
void operator delete[](void* p, std::align_val_t a) noexcept {
  delete_impl(real.delete_array_align, p, a);
}
void operator delete(void* p, std::size_t, std::align_val_t a) noexcept {
  delete_impl(real.delete_scalar_align, p, a);
}
void operator delete[](void* p, std::size_t, std::align_val_t a) noexcept {
  delete_impl(real.delete_array_align, p, a);
}
void operator delete(void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  delete_impl(real.delete_scalar_align, p, a);
}
void operator delete[](void* p, std::align_val_t a, const std::nothrow_t&) noexcept {
  delete_impl(real.delete_array_align, p, a);
}

// ---------------------------------------------------------------------------------------------
// Process lifetime.

PS_EXPORT void _exit(int status) {
  finish(wire::ByeReason::quick_exit, status);
  if (real.exit_now == nullptr) ready();
  real.exit_now(status);
  __builtin_unreachable();
}

PS_EXPORT void _Exit(int status) {
  finish(wire::ByeReason::quick_exit, status);
  if (real.exit_now_c99 == nullptr) ready();
  real.exit_now_c99(status);
  __builtin_unreachable();
}

PS_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  if (real.execve == nullptr) ready();
  // Send everything first: a successful exec discards our buffers. If exec fails, the image goes
  // on untracked (its bye was sent).
  finish(wire::ByeReason::exec, 0);
  return real.execve(path, argv, envp);
}

namespace {
void patch_loaded_modules();
}  // namespace

PS_EXPORT void* dlopen(const char* file, int mode) {
  if (real.dlopen == nullptr) ready();
  void* handle = real.dlopen(file, mode);
  // New code may allocate: perfscope needs its mapping to symbolize those stacks (and, attached,
  // its calls to the allocator must come here too).
  if (handle != nullptr && state.load() == State::tracking && hook_depth == 0) {
    ++hook_depth;
    if (attached) patch_loaded_modules();
    send_maps();
    --hook_depth;
  }
  return handle;
}

// ---------------------------------------------------------------------------------------------
// Attaching to a running process (perfscope mem -p).
//
// Loaded late, this library does not interpose anything: the program's modules already call the
// allocator through their own GOT entries. So attaching rewrites those entries (the relocations
// of type JUMP_SLOT and GLOB_DAT that name one of the functions below) to point here, as
// heaptrack's injection does; detaching writes the old values back. Calls that do not go through
// a GOT (the dynamic loader's own allocations, libc's internal dlopen for NSS and iconv) stay
// unseen.

namespace {

const char* const kHookedNames[] = {"malloc",
                                    "free",
                                    "calloc",
                                    "realloc",
                                    "reallocarray",
                                    "posix_memalign",
                                    "aligned_alloc",
                                    "memalign",
                                    "valloc",
                                    "pvalloc",
                                    "_Znwm",
                                    "_Znam",
                                    "_ZnwmRKSt9nothrow_t",
                                    "_ZnamRKSt9nothrow_t",
                                    "_ZnwmSt11align_val_t",
                                    "_ZnamSt11align_val_t",
                                    "_ZnwmSt11align_val_tRKSt9nothrow_t",
                                    "_ZnamSt11align_val_tRKSt9nothrow_t",
                                    "_ZdlPv",
                                    "_ZdaPv",
                                    "_ZdlPvm",
                                    "_ZdaPvm",
                                    "_ZdlPvRKSt9nothrow_t",
                                    "_ZdaPvRKSt9nothrow_t",
                                    "_ZdlPvSt11align_val_t",
                                    "_ZdaPvSt11align_val_t",
                                    "_ZdlPvmSt11align_val_t",
                                    "_ZdaPvmSt11align_val_t",
                                    "_ZdlPvSt11align_val_tRKSt9nothrow_t",
                                    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
                                    "dlopen",
                                    "_exit",
                                    "_Exit",
                                    "execve"};
constexpr std::size_t kHooks = sizeof(kHookedNames) / sizeof(kHookedNames[0]);
void* hook_address[kHooks];  // ours, by the same index

struct PatchedSlot {
  void** slot;
  void* original;
  bool read_only;  // in the module's RELRO pages
};
constexpr std::size_t kMaxPatched = 1 << 16;
PatchedSlot* patched = nullptr;  // mmap'd, kMaxPatched entries
std::size_t patched_count = 0;
pthread_mutex_t patch_lock = PTHREAD_MUTEX_INITIALIZER;

void* hook_for(const char* name) {
  for (std::size_t i = 0; i < kHooks; ++i) {
    if (std::strcmp(name, kHookedNames[i]) == 0) return hook_address[i];
  }
  return nullptr;
}

// Writes `value` into a GOT slot, lifting RELRO's read-only protection for the moment.
void write_slot(void** slot, void* value, bool read_only) {
  const long page = sysconf(_SC_PAGESIZE);
  auto* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(slot) &
                                        ~static_cast<std::uintptr_t>(page - 1));
  if (read_only && mprotect(start, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE) != 0)
    return;
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
  if (read_only) mprotect(start, static_cast<std::size_t>(page), PROT_READ);
}

struct DynamicInfo {
  const ElfW(Sym) * symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela) * tables[2] = {nullptr, nullptr};
  std::size_t sizes[2] = {0, 0};
};

int patch_module(struct dl_phdr_info* info, std::size_t, void*) {
  if (info->dlpi_addr == own_base && own_base != 0) return 0;
  const ElfW(Phdr)* dynamic = nullptr;
  ElfW(Addr) relro_begin = 0, relro_end = 0;
  const long page = sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dynamic = &ph;
    if (ph.p_type == PT_GNU_RELRO) {
      // ld.so protects whole pages from the segment's first page up to its last full page.
      relro_begin = (info->dlpi_addr + ph.p_vaddr) & ~static_cast<ElfW(Addr)>(page - 1);
      relro_end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & ~static_cast<ElfW(Addr)>(page - 1);
    }
  }
  if (dynamic == nullptr) return 0;
  // ld.so has already added the load address to these entries in place on x86-64; a value below
  // the load address has not been (the main executable of a non-PIE build has address 0).
  auto absolute = [info](ElfW(Addr) a) { return a < info->dlpi_addr ? a + info->dlpi_addr : a; };
  DynamicInfo d;
  bool rela_plt = true;
  for (const auto* e = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + dynamic->p_vaddr);
       e->d_tag != DT_NULL; ++e) {
    switch (e->d_tag) {
      case DT_SYMTAB:
        d.symtab = reinterpret_cast<const ElfW(Sym)*>(absolute(e->d_un.d_ptr));
        break;
      case DT_STRTAB:
        d.strtab = reinterpret_cast<const char*>(absolute(e->d_un.d_ptr));
        break;
      case DT_JMPREL:
        d.tables[0] = reinterpret_cast<const ElfW(Rela)*>(absolute(e->d_un.d_ptr));
        break;
      case DT_PLTRELSZ:
        d.sizes[0] = e->d_un.d_val;
        break;
      case DT_PLTREL:
        rela_plt = e->d_un.d_val == DT_RELA;
        break;
      case DT_RELA:
        d.tables[1] = reinterpret_cast<const ElfW(Rela)*>(absolute(e->d_un.d_ptr));
        break;
      case DT_RELASZ:
        d.sizes[1] = e->d_un.d_val;
        break;
      default:
        break;
    }
  }
  if (d.symtab == nullptr || d.strtab == nullptr || !rela_plt) return 0;
  for (int t = 0; t < 2; ++t) {
    if (d.tables[t] == nullptr) continue;
    const std::size_t n = d.sizes[t] / sizeof(ElfW(Rela));
    for (std::size_t i = 0; i < n; ++i) {
      const ElfW(Rela)& r = d.tables[t][i];
      const auto type = ELF64_R_TYPE(r.r_info);
      const auto sym = ELF64_R_SYM(r.r_info);
      if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || sym == 0) continue;
      void* hook = hook_for(d.strtab + d.symtab[sym].st_name);
      if (hook == nullptr) continue;
      const ElfW(Addr) at = info->dlpi_addr + r.r_offset;
      auto** slot = reinterpret_cast<void**>(at);
      void* current = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
      if (current == hook || patched_count == kMaxPatched) continue;
      const bool read_only = at >= relro_begin && at < relro_end;
      patched[patched_count++] = {slot, current, read_only};
      write_slot(slot, hook, read_only);
    }
  }
  return 0;
}

void patch_loaded_modules() {
  pthread_mutex_lock(&patch_lock);
  dl_iterate_phdr(patch_module, nullptr);
  pthread_mutex_unlock(&patch_lock);
}

// Puts every patched slot back, newest first. A slot in a module unloaded since (dlclose) is
// skipped: its page is gone or reused.
void unpatch_modules() {
  pthread_mutex_lock(&patch_lock);
  for (std::size_t i = patched_count; i-- > 0;) {
    Dl_info where{};
    if (dladdr(patched[i].slot, &where) == 0) continue;
    write_slot(patched[i].slot, patched[i].original, patched[i].read_only);
  }
  patched_count = 0;
  pthread_mutex_unlock(&patch_lock);
}

}  // namespace

// Starts tracking in a process this library was just dlopen()ed into. `fifo_path` is perfscope's
// named pipe (already open for reading); `unwind` a wire::Unwind. Returns 0 or an errno value.
PS_EXPORT int perfscope_heap_attach(const char* fifo_path, unsigned unwind) {
  if (state.load() == State::tracking || attached) return EBUSY;
  ++hook_depth;
  // Our own definitions, by name: this library's handle finds them before anyone else's.
  Dl_info self_info{};
  void* self_handle = nullptr;
  if (dladdr(reinterpret_cast<void*>(&perfscope_heap_attach), &self_info) != 0) {
    own_base = reinterpret_cast<ElfW(Addr)>(self_info.dli_fbase);
    self_handle =
        real.dlopen != nullptr ? real.dlopen(self_info.dli_fname, RTLD_NOW | RTLD_NOLOAD) : nullptr;
  }
  resolve_real(RTLD_DEFAULT);
  int error = 0;
  if (real.malloc == nullptr || real.free == nullptr || self_handle == nullptr) error = ENOENT;
  for (std::size_t i = 0; error == 0 && i < kHooks; ++i) {
    hook_address[i] = dlsym(self_handle, kHookedNames[i]);
    if (hook_address[i] == nullptr) error = ENOENT;
  }
  void* slots = error == 0 ? mmap(nullptr, kMaxPatched * sizeof(PatchedSlot),
                                  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                           : MAP_FAILED;
  if (error == 0 && slots == MAP_FAILED) error = errno;
  int fd = -1;
  if (error == 0) {
    // perfscope holds the read end open, so this does not wait.
    fd = ::open(fifo_path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) error = errno;
  }
  if (error == 0 && (fcntl(fd, F_SETFL, 0) != 0 || !map_pool())) error = errno ? errno : ENOMEM;
  if (error != 0) {
    if (fd >= 0) ::close(fd);
    --hook_depth;
    return error;
  }
  patched = static_cast<PatchedSlot*>(slots);
  unwind_mode = unwind == static_cast<unsigned>(wire::Unwind::dwarf) ? wire::Unwind::dwarf
                                                                     : wire::Unwind::frame_pointers;
  out_fd = fd;
  // A FIFO: PIPE_BUF packets written with SIGPIPE blocked, whatever an earlier run of `mem CMD`
  // that started this process (and left it behind) had set up for its socket.
  out_is_socket = false;
  batch_limit = wire::kPacketBytes;
  my_pid = static_cast<std::int32_t>(getpid());
  image_start_ns = now_ns(CLOCK_MONOTONIC);
  attached = true;
  pthread_key_create(&thread_key, thread_exit);
  pthread_atfork(before_fork, nullptr, after_fork_in_child);
  send_hello(wire::Origin::attached, static_cast<int>(getppid()));
  state.store(State::tracking);
  // From here on the program's calls come to the hooks.
  patch_loaded_modules();
  --hook_depth;
  return 0;
}

// Stops tracking: the GOT entries get their old values, every batch goes out, then the final maps
// and bye. The program runs on; calls already inside a hook finish through the real functions.
PS_EXPORT int perfscope_heap_detach() {
  if (!attached) return EINVAL;
  ++hook_depth;
  unpatch_modules();
  finish(wire::ByeReason::detached, 0);
  if (out_fd >= 0) ::close(out_fd);
  out_fd = -1;
  --hook_depth;
  return 0;
}

__attribute__((constructor)) static void perfscope_heap_init() {
  if (state.load() == State::uninitialized) initialize();
}

__attribute__((destructor)) static void perfscope_heap_fini() {
  at_exit_destructor();
}
