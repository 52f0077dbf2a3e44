// Call trees of a Profile, as `perf report -g` and `go tool pprof -peek` show them: for each of the
// hottest functions, what it calls (caller order: the function first, then its callees) or what
// calls it (callee order: the function first, then its callers), every node with the weight of
// the samples that pass through it (inclusive), branches below a share of the total left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::profile {

enum class TreeOrder {
  caller,  // root: the function; children: the functions it calls (perf report -g caller)
  callee,  // root: the function; children: the functions that call it (perf report -g callee)
};

// "caller", "callee"; the Error lists the choices.
Result<TreeOrder> parse_tree_order(std::string_view name);

struct TreeOptions {
  TreeOrder order = TreeOrder::caller;
  // Roots: the `top` functions with the largest total (0: every function), or, when `roots` is
  // set, the functions whose name this ECMAScript regex matches (searched, as pprof's -peek).
  std::size_t top = 20;
  std::string roots = {};
  double min_percent = 0.5;  // nodes under this share of the total (in %) are left out
  std::size_t value_index = 0;
  SampleFilter filter = {};
};

// One function in a tree. `total` is the weight of the samples whose stack passes through this
// node's path; `self` (roots only) the weight of samples whose leaf is the root function.
struct TreeNode {
  std::string name;  // as by function in hottest(): "NAME" or "NAME (inlined)"
  std::int64_t total = 0;
  std::int64_t self = 0;
  std::vector<TreeNode> children = {};  // heaviest first, then by name
};

struct CallTree {
  TreeOrder order = TreeOrder::caller;
  std::vector<TreeNode> roots = {};  // heaviest total first, then by name
  std::int64_t total = 0;            // weight of all matching samples: the 100% of percentages
  std::size_t samples = 0;
};

// A function that recurs in one stack counts once for that stack: the caller tree of F follows
// each sample from its outermost F, the callee tree from its innermost. Errors: a value_index
// outside the sample types, a `roots` regex that does not compile or matches no function.
Result<CallTree> call_tree(const Profile& p, const TreeOptions& options);

}  // namespace perfscope::profile
