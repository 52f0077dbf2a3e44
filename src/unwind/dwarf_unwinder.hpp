// DwarfUnwinder: the user call stack of a sample from its registers and copied stack, through the
// call frame information (.eh_frame, else .debug_frame) of the modules the process had mapped.
//
// State lives as long as the unwinder and is shared by every sample: each module is opened once
// (by build-id, else path), each (process, mapping) is looked up once, and the CFI rule for each
// distinct pc is computed once by libdw and then evaluated from a cache, so a profile's millions
// of samples cost a hash probe and a few register operations per frame. Not thread-safe; one per
// recording (the Collector's thread).
//
// Every sample ends for one reason, counted in stats(): the outermost frame (CFI marks the return
// address of _start and of a thread's start routine undefined) or why the walk stopped early.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sampling/user_stack.hpp"
#include "unwind/registers.hpp"

namespace perfscope::unwind {

enum class StopReason : std::uint8_t {
  outermost,         // reached the end of the stack: complete
  no_unwind_info,    // a module without CFI for the pc (or not readable, or anonymous memory)
  stack_too_small,   // a caller's frame lies beyond the copied stack
  unreadable,        // memory the copy does not hold and never could (below the stack pointer)
  outside_mappings,  // a pc in no mapping of the process: the walk went wrong or the map is stale
  bad_frame,         // CFI needed a register the sample lacks, or the stack did not move up
  too_deep,          // max_frames reached
};
inline constexpr int kStopReasonCount = 7;
const char* describe(StopReason reason);

struct UnwindStats {
  std::uint64_t samples = 0;  // samples with user registers
  std::uint64_t frames = 0;   // user frames produced, the sampled pc included
  std::uint64_t by_reason[kStopReasonCount] = {};
  // no_unwind_info samples by module path (or "[anonymous memory]"), the worst first in reports.
  std::map<std::string, std::uint64_t> no_unwind_info_modules;
  std::uint64_t stack_bytes_requested = 0;  // the copy size the samples were taken with
  std::uint64_t full_copies = 0;            // samples whose copy was cut at the requested size
  std::uint64_t cpu_ns = 0;                 // thread CPU time spent unwinding

  std::uint64_t count(StopReason r) const { return by_reason[static_cast<int>(r)]; }
};

struct UnwinderOptions {
  std::uint64_t regs_mask = 0;  // attr.sample_regs_user the samples were taken with
  std::size_t max_frames = 512;
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
};

class DwarfUnwinder : public sampling::UserStackUnwinder {
 public:
  explicit DwarfUnwinder(UnwinderOptions options);
  ~DwarfUnwinder() override;
  DwarfUnwinder(const DwarfUnwinder&) = delete;
  DwarfUnwinder& operator=(const DwarfUnwinder&) = delete;

  void unwind(const sampling::AddressSpace& space, sampling::AddressSpaceId space_id,
              const sampling::UserStack& stack, std::vector<std::uint64_t>& pcs) override;

  // The same, returning why the walk ended (also counted in stats()).
  StopReason unwind_one(const sampling::AddressSpace& space, sampling::AddressSpaceId space_id,
                        const sampling::UserStack& stack, std::vector<std::uint64_t>& pcs);

  const UnwindStats& stats() const { return stats_; }
  std::size_t modules_opened() const;
  std::size_t rules_cached() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  UnwindStats stats_;
};

}  // namespace perfscope::unwind
