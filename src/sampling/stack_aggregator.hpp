// StackAggregator: counts samples per (pid, tid, cpu, address space, raw stack).
//
// This is the per-sample hot path: a hash over the addresses, one probe into an open-addressing
// table, and a counter increment. Stacks are copied into one arena the first time they are seen;
// nothing is allocated or symbolized for a stack already present. The eBPF backend feeds the same
// aggregator with counts it aggregated in the kernel.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace perfscope::sampling {

// StackKey::bucket of a sample whose time is unknown (the eBPF backend's in-kernel counts).
inline constexpr std::uint32_t kNoBucket = UINT32_MAX;

struct StackKey {
  std::uint32_t pid = 0, tid = 0, cpu = 0;
  std::uint32_t space = 0;  // ProcessTable AddressSpaceId
  // Off-CPU time (bpf::OffCpuProfiler): the state the thread waited in (enum ps_offcpu_state:
  // 1 sleeping, 2 blocked, 3 runnable); 0 for an on-CPU sample.
  std::uint32_t state = 0;
  // The sample's period (Collector::bucket_ns() wide) counted from the first sample, so that a
  // profile can be cut in time later; kNoBucket when unknown.
  std::uint32_t bucket = kNoBucket;
  bool operator==(const StackKey&) const = default;
};

class StackAggregator {
 public:
  struct Entry {
    StackKey key;
    std::uint32_t offset = 0, length = 0;  // into the arena
    std::uint64_t count = 0;
    std::uint64_t period = 0;  // sum of sample periods (ns for cpu-clock)
    std::uint64_t hash = 0;
  };

  // `stack`: leaf first, PERF_CONTEXT_* markers kept as they came.
  void add(const StackKey& key, std::span<const std::uint64_t> stack, std::uint64_t count,
           std::uint64_t period);

  const std::vector<Entry>& entries() const { return entries_; }
  std::span<const std::uint64_t> stack(const Entry& e) const {
    return {arena_.data() + e.offset, e.length};
  }
  std::uint64_t total_samples() const { return total_; }
  // Forgets every entry (total_samples() stays), keeping the storage: a live view (`top`) that
  // has taken the entries empties the aggregator at each refresh.
  void clear();

 private:
  void grow();
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> slots_;  // entry index + 1; 0 = empty
  std::vector<std::uint64_t> arena_;
  std::uint64_t total_ = 0;
};

}  // namespace perfscope::sampling
