// Profiles made of stacks of named frames, the shape of every input but pprof: folded stacks and
// perf script text (through a StackTree), speedscope files (frame by frame).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output/stack_tree.hpp"
#include "profile/profile.hpp"

namespace perfscope::formats {

// Builds a Profile from stacks whose frames are functions by name. Locations and mappings are
// deduplicated; samples are summed per distinct (comm, stack) and added by finish(). The Profile
// must outlive the builder.
class StackProfileBuilder {
 public:
  explicit StackProfileBuilder(profile::Profile& p) : p_(p) {}

  // The mapping named `name` (made when new), for kernel and JIT frames.
  std::uint64_t mapping(std::string_view name);
  // The location of `functions` (innermost first, pprof's order) in `mapping_id` (0: none).
  std::uint64_t location(const std::vector<std::uint64_t>& functions, std::uint64_t mapping_id);
  // Adds `weight` (and `samples`, for finish_with_samples()) to the stack (location ids leaf
  // first) with this comm (0: none).
  void add(profile::StringId comm, const std::vector<std::uint64_t>& leaf_first,
           std::int64_t weight, std::int64_t samples = 0);
  // Adds one sample per distinct stack, its weight as value 0 of `values` values.
  void finish(std::size_t values);
  // Adds one sample per distinct stack with two values: its samples, then its weight.
  void finish_with_samples();

 private:
  profile::Profile& p_;
  std::map<std::string, std::uint64_t, std::less<>> mappings_;
  std::map<std::vector<std::uint64_t>, std::uint64_t> locations_;
  struct Sums {
    std::int64_t weight = 0;
    std::int64_t samples = 0;
  };
  void finish(std::size_t values, bool with_samples);
  std::map<std::pair<profile::StringId, std::vector<std::uint64_t>>, Sums> stacks_;
};

struct TreeProfileOptions {
  // The root frames are command names (perf script puts the sample's COMM there): they become
  // the "comm" label of the samples below them, as perfscope's own profiles have it, instead of
  // frames.
  bool roots_are_comm = false;
  // What the tree's counts measure; empty: {"samples", "count"}.
  std::string value_type = {};
  std::string value_unit = {};
  // When the tree's counts are weights (perf's periods): the samples that ended at each node
  // (index: node id; missing entries are 0). The Profile then has two sample types, {"samples",
  // "count"} and the weights, which are the default.
  std::span<const std::int64_t> samples_per_node = {};
};

// A tree's stacks as a Profile with one sample type {"samples", "count"} (or as the options say):
// one sample per node with self samples, one function per frame name, kernel frames in a
// "[kernel.kallsyms]" mapping, JIT frames in "[jit] compiled code", and inlined frames in the
// location of the frame they were inlined into. output::tree_from_profile() of the result gives the
// same tree back.
profile::Profile profile_from_tree(const output::StackTree& tree,
                                   const TreeProfileOptions& options = {});

}  // namespace perfscope::formats
