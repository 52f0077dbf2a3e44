// CpuSet: a sorted set of CPU numbers, parsed from the kernel's list syntax ("0-3,7"), which is
// both what /sys/devices/system/cpu/online holds and what `-C` takes on the command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope {

class CpuSet {
 public:
  CpuSet() = default;
  explicit CpuSet(std::vector<int> cpus);

  // Parses "0-3,7" (whitespace and a trailing newline allowed). Empty text is an error.
  static Result<CpuSet> parse(std::string_view text);
  // The CPUs online now, from /sys/devices/system/cpu/online (or `path` for tests).
  static Result<CpuSet> online(const std::string& path = "/sys/devices/system/cpu/online");

  const std::vector<int>& cpus() const { return cpus_; }
  std::size_t size() const { return cpus_.size(); }
  bool empty() const { return cpus_.empty(); }
  bool contains(int cpu) const;
  // True when every CPU in this set is also in `other`.
  bool subset_of(const CpuSet& other) const;
  // Back to the compact list syntax: {0,1,2,3,7} -> "0-3,7".
  std::string to_string() const;

  auto begin() const { return cpus_.begin(); }
  auto end() const { return cpus_.end(); }

 private:
  std::vector<int> cpus_;  // sorted, unique
};

}  // namespace perfscope
