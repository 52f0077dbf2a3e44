// Which of a stopped process's live heap blocks are still reachable, and how the others are
// lost, in the four classes valgrind's memcheck reports: a conservative mark phase over the
// process's memory, read with process_vm_readv while the process waits (perfscope's heap preload
// blocks in its exit path until the scan is done).
//
// Roots are the process's writable mappings from /proc/PID/maps (data and bss of every module,
// thread stacks from their stack pointers up, anonymous memory) except [heap] and the heaps of
// glibc's other arenas (freed chunks there hold stale pointers), the live blocks themselves, and
// the ranges the caller excludes (the preload's own event buffers, which contain
// every pointer, and the dead part of the exiting thread's stack). As in memcheck:
//  - a pointer to a block's first byte from a root, or from a still reachable block, makes that
//    block *still reachable*;
//  - a block reached only through a pointer into its middle somewhere on the way is *possibly
//    lost* (memcheck's heuristics for C++ layouts, which take some such pointers as start
//    pointers, are not applied);
//  - of the blocks not reached at all, those another unreached block points to (start or middle)
//    are *indirectly lost*, the others *definitely lost*. Blocks are taken in address order: in a
//    cycle of lost blocks the lowest is definitely lost, the rest indirectly, as memcheck says.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"

namespace perfscope::heap {

struct LiveBlock {
  std::uint64_t address = 0;
  std::uint64_t size = 0;
};

struct AddressRange {
  std::uint64_t begin = 0, end = 0;  // [begin, end)
};

enum class LeakKind : std::uint8_t {
  still_reachable,
  possibly_lost,
  indirectly_lost,
  definitely_lost,
};
inline constexpr int kLeakKinds = 4;
// memcheck's words for each: "still reachable", "possibly lost", ...
const char* leak_kind_name(LeakKind kind);

struct ReachabilityResult {
  std::vector<LeakKind> kind;          // one per block, in the order given
  std::uint64_t bytes_scanned = 0;     // root and block bytes read
  std::uint64_t unreadable_bytes = 0;  // root bytes that could not be read (skipped)
};

// `blocks` must be sorted by address and not overlap. Errors when /proc/PID/maps cannot be read or
// the process's memory cannot be read at all (EPERM: not our process, or ptrace restrictions),
// with a hint; a root that vanished or cannot be read is skipped and counted.
Result<ReachabilityResult> scan_reachable(int pid, const std::vector<LiveBlock>& blocks,
                                          const std::vector<AddressRange>& exclude = {});

}  // namespace perfscope::heap
