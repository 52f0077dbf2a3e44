// Which of a stopped process's live heap blocks are still reachable, the way valgrind's memcheck
// tells "still reachable" from "definitely lost": a conservative mark phase over the process's
// memory, read with process_vm_readv while the process waits (perfscope's heap preload blocks in
// its exit path until the scan is done).
//
// Roots are the process's writable mappings from /proc/PID/maps (data and bss of every module,
// thread stacks, anonymous memory) except [heap], mappings that hold a live block, and the ranges
// the caller excludes (the preload's own event buffers, which contain every pointer). Any aligned
// 8-byte word in a root or in a reachable block whose value falls inside a live block
// [address, address + size) marks that block reachable (interior pointers count, like memcheck's
// "possibly lost" folded into reachable).
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

struct ReachabilityResult {
  std::vector<bool> reachable;         // one per block, in the order given
  std::uint64_t bytes_scanned = 0;     // root and block bytes read
  std::uint64_t unreadable_bytes = 0;  // root bytes that could not be read (skipped)
};

// `blocks` must be sorted by address and not overlap. Errors when /proc/PID/maps cannot be read or
// the process's memory cannot be read at all (EPERM: not our process, or ptrace restrictions),
// with a hint; a root that vanished or cannot be read is skipped and counted.
Result<ReachabilityResult> scan_reachable(int pid, const std::vector<LiveBlock>& blocks,
                                          const std::vector<AddressRange>& exclude = {});

}  // namespace perfscope::heap
