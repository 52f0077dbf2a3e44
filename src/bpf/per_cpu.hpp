// Reading BPF_MAP_TYPE_PERCPU_ARRAY counters: one slot holds a value per possible CPU.
#pragma once

#include <cstdint>

namespace perfscope::bpf {

// Slot `slot` of the per-CPU array of u64 counters at `map_fd`, summed over every possible CPU;
// 0 when the map cannot be read.
std::uint64_t sum_per_cpu_u64(int map_fd, std::uint32_t slot);

}  // namespace perfscope::bpf
