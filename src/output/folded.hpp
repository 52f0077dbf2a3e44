// Folded stacks (Brendan Gregg's format, read by flamegraph.pl, inferno and speedscope): one line
// per distinct stack, frames root first joined by ';', then a space and the count:
//   worker;main;parse;memcpy 42
// Inlined functions are frames of their own (below the function they were inlined into). Frame
// names have ';' replaced by ':' and control characters by spaces, so every line parses. Lines are
// sorted, and a stack occurs once: samples whose frames print the same are summed.
#pragma once

#include <cstddef>
#include <string>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::output {

struct FoldedOptions {
  bool include_comm = true;  // the "comm" label as the root frame (when the sample has one)
  // Kind suffixes, as FlameGraph's stackcollapse-perf.pl --all (and --inline) write them: "_[k]"
  // after kernel frames, "_[j]" after JIT frames, "_[i]" after inlined ones. The kinds are those
  // of tree_from_profile() (stack_tree.hpp), and the folded reader turns them back into kinds.
  bool annotate = false;
  std::size_t value_index = 0;  // which Sample::values entry is counted
  profile::SampleFilter filter = {};
};

// The folded text, each line ending in '\n'. Stacks whose counts sum to 0 are left out. Error only
// for a value_index outside the profile's sample types.
Result<std::string> folded(const profile::Profile& p, const FoldedOptions& options = {});

}  // namespace perfscope::output
