// The saved form of a heap run: a Profile with pprof's heap sample types, one sample per
// (process image, allocation stack), symbolized once per unique return address.
//
// Sample types, in this order (pprof's names and units where pprof defines them):
//   alloc_objects count, alloc_space bytes    every allocation of the run
//   inuse_objects count, inuse_space bytes    live at the peak of the heap (the default type)
//   leaked_objects count, leaked_space bytes  never freed before the program ended
//   temporary_objects count                   freed right after being allocated
// Labels: pid (num) and comm (the program's file name). Comments hold the run's headline numbers.
#pragma once

#include <string>
#include <vector>

#include "heap/analysis.hpp"
#include "profile/profile.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::heap {

enum HeapValue : std::size_t {
  kAllocObjects = 0,
  kAllocSpace,
  kInuseObjects,
  kInuseSpace,
  kLeakedObjects,
  kLeakedSpace,
  kTemporaryObjects,
  kHeapValueCount
};

struct HeapProfileInfo {
  std::string command_line;
  std::int64_t time_nanos = 0;      // start, since the epoch
  std::int64_t duration_nanos = 0;  // wall time of the run
};

// `sample_of_site`, when given, receives for each image and site the index of its sample in the
// profile, or -1 for a site with nothing to count.
profile::Profile build_heap_profile(
    const std::vector<ProcessImage>& images, symbols::Symbolizer& symbolizer,
    const HeapProfileInfo& info, std::vector<std::vector<std::int64_t>>* sample_of_site = nullptr);

}  // namespace perfscope::heap
