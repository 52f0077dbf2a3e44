// `scenario diff A B`: two scenarios compared. diff.md holds the run times and their change, the
// peak heap and the system calls of each, and the functions whose share of the CPU profile moved
// most; diff.svg is the differential flame graph of B's profile against A's (normalized), when
// both have one.
#pragma once

#include <string>

#include "core/error.hpp"

namespace perfscope::scenario {

struct DiffOptions {
  std::string before, after;  // names under `results`, or paths to scenario folders
  std::string results = "perfscope-results";
  std::string output;  // the folder for diff.md and diff.svg; empty: RESULTS/diff-A-B
};

struct DiffResult {
  std::string folder;    // where diff.md (and diff.svg) went
  std::string markdown;  // diff.md's text
  bool svg = false;      // diff.svg was drawn
};

Result<DiffResult> diff_scenarios(const DiffOptions& options);

}  // namespace perfscope::scenario
