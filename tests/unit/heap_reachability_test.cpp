// scan_reachable against a child process whose heap has a known shape, one block per class
// memcheck reports: blocks held by globals, blocks only other reachable blocks point to (from far
// inside a large block, from a shared mapping and from a sparse reservation), blocks reached only
// through an interior pointer (possibly lost), and lost blocks: leaked at once, held only by a lost
// block or a lost cycle (indirectly lost), held only by a freed block, held by a global since
// overwritten.
//
// The child is this test binary executed afresh (a forked copy of the test process would inherit
// its memory: stale copies of earlier children's addresses, in freed memory that ASan's
// quarantine keeps, would be roots). It takes that role before main() when kChildEnv is set.
// A conservative scan finds any stale copy of a lost block's address, so the child keeps those
// addresses out of its live memory: it stores them only through volatile globals and heap blocks,
// builds the heap on a stretch of stack it zeroes before and after, sends the list to the parent
// and then zeroes it, and stops itself with SIGSTOP.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "heap/reachability.hpp"
#include "support/requirements.hpp"

namespace perfscope::heap {
namespace {

enum Slot : std::size_t {
  // Still reachable.
  kKept,           // in g_kept[0]
  kChild,          // word 0 of kKept
  kBig,            // in g_kept[1]; bigger than a read chunk
  kFarInBig,       // 1.5 MiB into kBig
  kInShared,       // first word of a MAP_SHARED memfd mapping whose last pages are unreadable
  kInSparse,       // 40 GiB into a 64 GiB reservation with two pages touched
  kExcludedOnly,   // in g_excluded_only[0]: lost when the test excludes that array
  kExcludedChild,  // word 1 of kExcludedOnly
  // Possibly lost.
  kInterior,        // word 3 of kChild points 100 bytes into it
  kBehindInterior,  // word 0 of kInterior: reached only through kInterior's interior pointer
  // Lost.
  kLeaked,       // never stored anywhere: definitely lost
  kHeldByLost,   // word 0 of kLeaked: indirectly lost
  kCycleA,       // kCycleA and kCycleB point at each other, nothing points at them: the lower
  kCycleB,       // of the two is definitely lost, the other indirectly (memcheck's order)
  kOnlyInFreed,  // word 2 of a block that was freed: definitely lost
  kOverwritten,  // was in g_scratch, since overwritten: definitely lost
  kSlots,
};
// Every slot before kInterior is still reachable.
constexpr bool expect_reachable(std::size_t slot) {
  return slot < kInterior;
}
constexpr const char* kNames[kSlots] = {
    "kept",      "child",           "big",           "far_in_big",
    "in_shared", "in_sparse",       "excluded_only", "excluded_child",
    "interior",  "behind_interior", "leaked",        "held_by_lost",
    "cycle_a",   "cycle_b",         "only_in_freed", "overwritten"};

constexpr std::size_t kBigSize = std::size_t{2} << 20;
constexpr std::size_t kFarOffset = std::size_t{3} << 19;

struct Report {
  std::uint64_t address[kSlots];
  std::uint64_t size[kSlots];
  std::uint64_t excluded_begin, excluded_end;  // g_excluded_only
  std::uint64_t shared_size, shared_readable;  // the memfd mapping and its readable prefix
  std::uint64_t sparse_size;                   // 0 when the reservation could not be made
};

// The child's roots and scratch space (the test process leaves them alone).
void* volatile g_kept[3];
void* volatile g_excluded_only[2];
void* volatile g_scratch;
Report g_report;  // names the lost blocks too: zeroed once sent

__attribute__((noinline)) void* allocate(Slot slot, std::size_t size) {
  // calloc: a reused chunk may still hold old pointers.
  void* p = std::calloc(1, size);
  if (p == nullptr) std::_Exit(3);
  g_report.address[slot] = reinterpret_cast<std::uint64_t>(p);
  g_report.size[slot] = size;
  return p;
}

__attribute__((noinline)) void link(void* from, std::size_t word, std::uint64_t to) {
  static_cast<volatile std::uint64_t*>(from)[word] = to;
}

__attribute__((noinline)) void build_heap() {
  g_kept[0] = allocate(kKept, 64);
  link(g_kept[0], 0, reinterpret_cast<std::uint64_t>(allocate(kChild, 128)));
  link(reinterpret_cast<void*>(g_report.address[kChild]), 3,
       reinterpret_cast<std::uint64_t>(allocate(kInterior, 256)) + 100);
  link(reinterpret_cast<void*>(g_report.address[kInterior]), 0,
       reinterpret_cast<std::uint64_t>(allocate(kBehindInterior, 48)));
  g_kept[1] = allocate(kBig, kBigSize);
  link(g_kept[1], kFarOffset / 8, reinterpret_cast<std::uint64_t>(allocate(kFarInBig, 64)));

  const long page = ::sysconf(_SC_PAGESIZE);
  const int memfd = ::memfd_create("reachability-test", MFD_CLOEXEC);
  if (memfd < 0 || ::ftruncate(memfd, 3 * page) != 0) std::_Exit(4);
  void* shared = ::mmap(nullptr, static_cast<std::size_t>(3 * page), PROT_READ | PROT_WRITE,
                        MAP_SHARED, memfd, 0);
  if (shared == MAP_FAILED) std::_Exit(5);
  link(shared, 0, reinterpret_cast<std::uint64_t>(allocate(kInShared, 64)));
  if (::ftruncate(memfd, page) != 0) std::_Exit(6);  // pages 2 and 3: SIGBUS, EFAULT to readers
  g_report.shared_size = static_cast<std::uint64_t>(3 * page);
  g_report.shared_readable = static_cast<std::uint64_t>(page);

  // A reservation like a sanitizer's shadow memory: reading all of it would take hours.
  constexpr std::size_t kSparseSize = std::size_t{64} << 30, kSparseOffset = std::size_t{40} << 30;
  void* sparse = ::mmap(nullptr, kSparseSize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (sparse != MAP_FAILED) {
    static_cast<volatile char*>(sparse)[0] = 1;
    link(static_cast<char*>(sparse) + kSparseOffset, 1,
         reinterpret_cast<std::uint64_t>(allocate(kInSparse, 64)));
    g_report.sparse_size = kSparseSize;
  } else {
    g_kept[2] = allocate(kInSparse, 64);  // strict overcommit: keep the expectation
  }

  g_excluded_only[0] = allocate(kExcludedOnly, 64);
  link(g_excluded_only[0], 1, reinterpret_cast<std::uint64_t>(allocate(kExcludedChild, 64)));
  g_report.excluded_begin = reinterpret_cast<std::uint64_t>(&g_excluded_only[0]);
  g_report.excluded_end = g_report.excluded_begin + sizeof g_excluded_only;

  link(allocate(kLeaked, 64), 0, reinterpret_cast<std::uint64_t>(allocate(kHeldByLost, 64)));
  link(allocate(kCycleA, 64), 0, reinterpret_cast<std::uint64_t>(allocate(kCycleB, 64)));
  link(reinterpret_cast<void*>(g_report.address[kCycleB]), 0, g_report.address[kCycleA]);

  g_scratch = std::calloc(1, 64);
  link(g_scratch, 2, reinterpret_cast<std::uint64_t>(allocate(kOnlyInFreed, 64)));
#if defined(__SANITIZE_ADDRESS__)
  // ASan quarantines freed memory in a region that may hold no live block, so is a root; glibc's
  // freed chunks stay in [heap], which is not.
  ::explicit_bzero(g_scratch, 64);
#endif
  std::free(g_scratch);
  g_scratch = allocate(kOverwritten, 64);
  g_scratch = nullptr;
}

constexpr std::size_t kScrubBytes = 64 * 1024;

// Zeroes kScrubBytes of stack below the caller's frame. Not instrumented, so without ASan's
// redzones (which would stay unwritten) in the array.
__attribute__((noinline, no_sanitize_address)) void scrub_stack() {
  char frames[kScrubBytes];
  ::explicit_bzero(frames, sizeof frames);
}

// Runs `work` kScrubBytes below the caller, on zeroed stack, and zeroes its dead frames after: a
// later call from the caller finds zeros in its uninitialised slots, and what `work` left lies
// below that call's stack pointer, where the scan does not look, and is zero anyway.
__attribute__((noinline, no_sanitize_address)) void run_on_clean_stack(void (*work)()) {
  char above[kScrubBytes];
  ::explicit_bzero(above, sizeof above);
  work();
  scrub_stack();
  asm volatile("" : : "r"(above) : "memory");  // `above` stays in this frame until here
}

[[noreturn]] void run_child(int report_fd) {
  run_on_clean_stack(build_heap);
  const bool sent =
      ::write(report_fd, &g_report, sizeof g_report) == static_cast<ssize_t>(sizeof g_report);
  ::explicit_bzero(&g_report, sizeof g_report);
  if (sent) ::raise(SIGSTOP);
  std::_Exit(sent ? 0 : 7);
}

constexpr const char* kChildEnv = "PERFSCOPE_REACHABILITY_CHILD_FD";

// The child role, taken before main() so that nothing but the C++ runtime ran before it.
[[maybe_unused]] const bool g_child_role = [] {
  if (const char* fd = std::getenv(kChildEnv)) run_child(std::atoi(fd));
  return false;
}();

// A child stopped with the heap above; killed and reaped on destruction.
class StoppedChild {
 public:
  StoppedChild() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    // Everything exec needs is made before fork: the test process may have threads.
    std::string fd_entry = std::string(kChildEnv) + "=" + std::to_string(fds[1]);
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
    env.push_back(fd_entry.data());
    env.push_back(nullptr);
    char name[] = "heap-reachability-child";
    char* argv[] = {name, nullptr};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::fcntl(fds[1], F_SETFD, 0);  // the write end survives exec
      ::execve("/proc/self/exe", argv, env.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    if (pid_ < 0) {
      ::close(fds[0]);
      return;
    }
    std::size_t got = 0;
    auto* bytes = reinterpret_cast<char*>(&report_);
    while (got < sizeof report_) {
      const ssize_t n = ::read(fds[0], bytes + got, sizeof report_ - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    stopped_ =
        got == sizeof report_ && ::waitpid(pid_, &status, WUNTRACED) == pid_ && WIFSTOPPED(status);
  }
  ~StoppedChild() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  StoppedChild(const StoppedChild&) = delete;
  StoppedChild& operator=(const StoppedChild&) = delete;

  bool stopped() const { return stopped_; }
  pid_t pid() const { return pid_; }
  const Report& report() const { return report_; }

 private:
  pid_t pid_ = -1;
  bool stopped_ = false;
  Report report_{};
};

struct SlotScan {
  bool reachable[kSlots] = {};
  LeakKind kind[kSlots] = {};
  ReachabilityResult result;
};

// Scans the child with its blocks sorted by address, as the API wants, and maps the answer back
// to slots.
Result<SlotScan> scan_slots(const StoppedChild& child, const std::vector<AddressRange>& exclude) {
  std::vector<std::size_t> order(kSlots);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const Report& r = child.report();
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return r.address[a] < r.address[b]; });
  std::vector<LiveBlock> blocks;
  for (const std::size_t slot : order) blocks.push_back({r.address[slot], r.size[slot]});
  auto result = scan_reachable(child.pid(), blocks, exclude);
  if (!result) return result.error();
  SlotScan out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    out.kind[order[i]] = result->kind[i];
    out.reachable[order[i]] = result->kind[i] == LeakKind::still_reachable;
  }
  out.result = std::move(*result);
  return out;
}

TEST(HeapReachability, TellsReachableFromLostBlocks) {
  StoppedChild child;
  ASSERT_TRUE(child.stopped());
  auto scan = scan_slots(child, {});
  ASSERT_TRUE(scan.has_value()) << scan.error().describe();
  ASSERT_EQ(scan->result.kind.size(), std::size_t{kSlots});
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    EXPECT_EQ(scan->reachable[slot], expect_reachable(slot))
        << kNames[slot] << " at 0x" << std::hex << child.report().address[slot];
  }
  // memcheck's other three classes.
  const auto& r = child.report();
  EXPECT_EQ(scan->kind[kInterior], LeakKind::possibly_lost);
  EXPECT_EQ(scan->kind[kBehindInterior], LeakKind::possibly_lost)
      << "a start pointer from a possibly lost block does not make it reachable";
  EXPECT_EQ(scan->kind[kLeaked], LeakKind::definitely_lost);
  EXPECT_EQ(scan->kind[kHeldByLost], LeakKind::indirectly_lost);
  const bool a_first = r.address[kCycleA] < r.address[kCycleB];
  EXPECT_EQ(scan->kind[a_first ? kCycleA : kCycleB], LeakKind::definitely_lost);
  EXPECT_EQ(scan->kind[a_first ? kCycleB : kCycleA], LeakKind::indirectly_lost);
  EXPECT_EQ(scan->kind[kOnlyInFreed], LeakKind::definitely_lost);
  EXPECT_EQ(scan->kind[kOverwritten], LeakKind::definitely_lost);
  EXPECT_GE(scan->result.bytes_scanned, child.report().shared_readable);
  if (child.report().sparse_size != 0) {
    EXPECT_LT(scan->result.bytes_scanned, child.report().sparse_size / 16)
        << "pages of the reservation never touched are not read";
  }
  EXPECT_GE(scan->result.unreadable_bytes,
            child.report().shared_size - child.report().shared_readable)
      << "the shared mapping's pages past the end of its file";
}

TEST(HeapReachability, ExcludedRangesAreNotRoots) {
  StoppedChild child;
  ASSERT_TRUE(child.stopped());
  const Report& r = child.report();
  auto scan = scan_slots(child, {{r.excluded_begin, r.excluded_end}});
  ASSERT_TRUE(scan.has_value()) << scan.error().describe();
  EXPECT_FALSE(scan->reachable[kExcludedOnly]) << "its only pointer is in the excluded array";
  EXPECT_FALSE(scan->reachable[kExcludedChild]) << "only the excluded block points at it";
  EXPECT_EQ(scan->kind[kExcludedOnly], LeakKind::definitely_lost);
  EXPECT_EQ(scan->kind[kExcludedChild], LeakKind::indirectly_lost);
  EXPECT_TRUE(scan->reachable[kKept]);
  EXPECT_TRUE(scan->reachable[kFarInBig]);
  EXPECT_FALSE(scan->reachable[kLeaked]);

  // Excluding only g_excluded_only[1] (null) leaves g_excluded_only[0] a root.
  auto partial = scan_slots(child, {{r.excluded_begin + 8, r.excluded_end}});
  ASSERT_TRUE(partial.has_value()) << partial.error().describe();
  EXPECT_TRUE(partial->reachable[kExcludedOnly]);
  EXPECT_TRUE(partial->reachable[kExcludedChild]);
}

TEST(HeapReachability, NoBlocksIsAnEmptyResult) {
  auto result = scan_reachable(INT_MAX, {});
  ASSERT_TRUE(result.has_value()) << result.error().describe();
  EXPECT_TRUE(result->kind.empty());
  EXPECT_EQ(result->bytes_scanned, 0u);
  EXPECT_EQ(result->unreadable_bytes, 0u);
}

TEST(HeapReachability, MissingProcessIsAnError) {
  // Above any pid_max, so never a live process.
  auto result = scan_reachable(INT_MAX, {{0x1000, 16}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().errnum, ENOENT);
  EXPECT_NE(result.error().op.find("/maps"), std::string::npos) << result.error().op;
  EXPECT_FALSE(result.error().hint.empty());
}

TEST(HeapReachability, ExitedProcessIsAnError) {
  // A zombie still has /proc/PID/maps (empty) but no memory to read.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) std::_Exit(0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  auto result = scan_reachable(pid, {{0x10000, 64}});
  ::waitpid(pid, nullptr, 0);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().errnum, ESRCH) << result.error().describe();
  EXPECT_FALSE(result.error().hint.empty());
}

TEST(HeapReachability, NotPermittedIsAnErrorWithAHint) {
  PS_REQUIRE(root());  // to become another user
  // A child that drops to nobody scans this (root's) process; its exit status is the verdict.
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      std::_Exit(2);
    }
    auto result = scan_reachable(parent, {{0x10000, 64}});
    const bool denied = !result.has_value() &&
                        (result.error().errnum == EACCES || result.error().errnum == EPERM) &&
                        result.error().hint.find("ptrace") != std::string::npos;
    std::_Exit(denied ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 2) << "could not become nobody";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "expected EACCES or EPERM with a ptrace hint";
}

TEST(HeapReachability, UnsortedBlocksAreRejected) {
  auto result = scan_reachable(::getpid(), {{0x20000, 16}, {0x10000, 16}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().errnum, EINVAL);
  auto overlapping = scan_reachable(::getpid(), {{0x10000, 32}, {0x10010, 16}});
  ASSERT_FALSE(overlapping.has_value());
}

}  // namespace
}  // namespace perfscope::heap
