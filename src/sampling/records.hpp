// The perf ring-buffer records perfscope decodes, as plain views over the record bytes.
//
// Views (spans, string_views) point into the ring or the decoder's bounce buffer and are valid only
// until the record is consumed; whoever keeps something copies it. Layouts follow
// include/uapi/linux/perf_event.h for the sample_type bits set in SampleLayout.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace perfscope::sampling {

// The fields a record carries when attr.sample_id_all is set (and a SAMPLE's leading ones).
struct SampleId {
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t time = 0;
  std::uint64_t id = 0;
  std::uint32_t cpu = 0;
};

// A call-chain marker of our own, in the range perf keeps for markers (>= PERF_CONTEXT_MAX) but
// unused by the kernel: "the stack of the current context (kernel or user) could not be captured".
// The eBPF backend puts it where bpf_get_stackid failed (a stack map collision or a full map), so
// the sample keeps its weight in the profile and shows why its stack is missing.
inline constexpr std::uint64_t kStackLost = static_cast<std::uint64_t>(-4000);

struct Sample {
  SampleId id;
  std::uint64_t ip = 0;
  std::uint64_t period = 0;
  bool kernel = false;  // the sampled ip was in kernel mode (header.misc)
  // Return addresses, leaf first, with PERF_CONTEXT_* markers (values >= PERF_CONTEXT_MAX) telling
  // kernel and user parts apart. Empty without PERF_SAMPLE_CALLCHAIN.
  std::span<const std::uint64_t> callchain;
  // PERF_SAMPLE_REGS_USER: abi (0 = none, e.g. a kernel thread) and the registers of the mask, in
  // bit order. PERF_SAMPLE_STACK_USER: a copy of the user stack from the stack pointer up, of which
  // the first `stack_dyn_size` bytes are valid.
  std::uint64_t regs_abi = 0;
  std::span<const std::uint64_t> regs;
  std::span<const std::byte> stack;
  std::uint64_t stack_dyn_size = 0;
};

// MMAP and MMAP2. `build_id` is set only for MMAP2 with PERF_RECORD_MISC_MMAP_BUILD_ID.
struct MmapRecord {
  SampleId id;
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t addr = 0, len = 0, pgoff = 0;
  std::uint32_t maj = 0, min = 0;
  std::uint64_t ino = 0;
  std::uint32_t prot = 0, flags = 0;
  std::span<const std::uint8_t> build_id;
  std::string_view filename;
  bool executable = true;  // MMAP records of data mappings (PERF_RECORD_MISC_MMAP_DATA) are not
};

struct CommRecord {
  SampleId id;
  std::uint32_t pid = 0, tid = 0;
  std::string_view comm;
  bool exec = false;  // PERF_RECORD_MISC_COMM_EXEC: the comm changed because the task exec()ed
};

// FORK and EXIT.
struct TaskRecord {
  SampleId id;
  std::uint32_t pid = 0, ppid = 0, tid = 0, ptid = 0;
  std::uint64_t time = 0;
};

// LOST (the ring was full: `lost` records dropped) and LOST_SAMPLES (samples dropped before the
// ring, e.g. by the kernel's own limits).
struct LostRecord {
  SampleId id;
  std::uint64_t lost = 0;
  bool samples_only = false;  // true for PERF_RECORD_LOST_SAMPLES
};

struct ThrottleRecord {
  SampleId id;
  std::uint64_t time = 0;
  bool throttled = true;  // false for UNTHROTTLE
};

}  // namespace perfscope::sampling
