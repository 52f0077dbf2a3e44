#include "bpf/per_cpu.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

namespace perfscope::bpf {

std::uint64_t sum_per_cpu_u64(int map_fd, std::uint32_t slot) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return 0;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
  if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data()) != 0) return 0;
  std::uint64_t sum = 0;
  for (const std::uint64_t v : per_cpu) sum += v;
  return sum;
}

}  // namespace perfscope::bpf
