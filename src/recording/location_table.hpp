// LocationTable: symbolized frames into a Profile's mappings and locations, each interned once.
// The one profile builder step shared by `record` (recording/profile_builder) and `mem`
// (heap/heap_profile): a location is (mapping, address, tag) -> lines, leaf inline frame first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "profile/profile.hpp"
#include "symbols/frame.hpp"

namespace perfscope::recording {

class LocationTable {
 public:
  explicit LocationTable(profile::Profile& profile) : p_(profile) {}

  // The mapping of a file mapped at [start, end) from `pgoff`, one per distinct range.
  std::uint64_t file_mapping(const std::string& path, const std::string& build_id,
                             std::uint64_t start, std::uint64_t end, std::uint64_t pgoff);
  // A kernel image or module spanning [start, limit), its text as kallsyms gives it; without a
  // known range (kallsyms unreadable or hidden), start 0 and limit 0 (pprof's "unknown").
  std::uint64_t kernel_mapping(const std::string& module, std::uint64_t start = 0,
                               std::uint64_t limit = 0);

  // The location already interned for (mapping, address, tag), if any: lets callers skip
  // symbolizing an address seen before. `tag` separates addresses outside every mapping whose
  // meaning depends on the process (0 otherwise).
  std::optional<std::uint64_t> find(std::uint64_t mapping_id, std::uint64_t address,
                                    std::uint32_t tag = 0) const;
  // Interns the location with `frames` as its lines (innermost inline frame first).
  std::uint64_t add(std::uint64_t mapping_id, std::uint64_t address,
                    const std::vector<symbols::Frame>& frames, std::uint32_t tag = 0);

  std::size_t size() const { return used_; }
  std::size_t unresolved() const { return unresolved_; }  // locations with an unknown frame

 private:
  // (mapping, address, tag) -> location id, open addressing: every new frame of every stack
  // passes through it (a std::unordered_map's prime modulo and node per entry were a sixth of a
  // system-wide perf.data read).
  struct Slot {
    std::uint64_t mapping_id = 0, address = 0, id = 0;  // id 0: empty
    std::uint32_t tag = 0;
  };
  Slot& slot(std::uint64_t mapping_id, std::uint64_t address, std::uint32_t tag);
  const Slot* find_slot(std::uint64_t mapping_id, std::uint64_t address, std::uint32_t tag) const;
  void grow();

  profile::Profile& p_;
  std::vector<Slot> slots_;  // a power of two long, at most 3/4 used
  std::size_t used_ = 0;
  std::map<std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint64_t>, std::uint64_t>
      file_mappings_;
  std::map<std::string, std::uint64_t> kernel_mappings_;
  std::size_t unresolved_ = 0;
};

}  // namespace perfscope::recording
