// The text report of `perfscope mem`: per process image, the headline numbers (allocations,
// temporary allocations, peak heap and when, what was never freed, split into definitely lost and
// still reachable), then the top allocation sites at the peak, by bytes allocated, by temporary
// allocations, and the leaks, each with its symbolized stack.
//
// Sizes print as "64.0 MiB (67,108,864 B)": the exact byte count is always there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heap/analysis.hpp"
#include "profile/profile.hpp"

namespace perfscope::heap {

struct TextReportOptions {
  std::size_t top = 10;         // rows per table
  std::size_t max_frames = 12;  // stack frames shown per row (innermost first)
};

// "64.0 MiB (67,108,864 B)", "512 B"
std::string format_size(std::uint64_t bytes);
// "67,108,864"
std::string group_digits(std::uint64_t n);

// `sample_of_site` as filled by build_heap_profile for the same images and profile.
std::string heap_text_report(const std::vector<ProcessImage>& images, const profile::Profile& p,
                             const std::vector<std::vector<std::int64_t>>& sample_of_site,
                             const TextReportOptions& options = {});

// One line naming a sample's stack, innermost first: "leaky (heap.cpp:31) < main (heap.cpp:60)".
std::string stack_line(const profile::Profile& p, const profile::Sample& s, std::size_t max_frames);

}  // namespace perfscope::heap
