// StackTree: stacks merged into a tree, the shape a flame graph draws. Node 0 is the root ("all");
// each other node is one frame under its parent, with `total` (samples with this frame on the
// path from the root) and `self` (samples whose stack ends here). Memory grows with the number of
// distinct stack prefixes, never with the number of samples, so parsers feed it while streaming.
//
// Frames are names plus a kind (user, kernel, JIT, inlined); the same name with another kind is a
// different frame. Children are visited sorted by name then kind, so every rendering of a tree is
// deterministic whatever order the samples came in.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::output {

enum class FrameKind : std::uint8_t { user, kernel, jit, inlined };

// "user", "kernel", "jit", "inlined".
std::string_view kind_name(FrameKind kind);

// The suffix folded stacks use for a kind, as stackcollapse-perf.pl writes them: "" for user,
// "_[k]" kernel, "_[j]" JIT, "_[i]" inlined.
std::string_view kind_suffix(FrameKind kind);

// A frame name with its folded suffix taken off, and the kind the suffix gave.
struct SplitName {
  std::string_view name;
  FrameKind kind = FrameKind::user;
};
SplitName split_kind_suffix(std::string_view annotated);

// One frame of a stack being added: an interned name and its kind.
struct FrameRef {
  std::uint32_t name = 0;
  FrameKind kind = FrameKind::user;
};

class StackTree {
 public:
  static constexpr std::uint32_t kRoot = 0;

  struct Node {
    std::uint32_t name = 0;    // interned; the root's is "all"
    std::uint32_t parent = 0;  // the root is its own parent
    std::uint32_t depth = 0;   // 0 for the root
    FrameKind kind = FrameKind::user;
    std::int64_t total = 0;
    std::int64_t self = 0;
  };

  StackTree();

  // The id of `name` in this tree's string table (added when new).
  std::uint32_t intern(std::string_view name);
  // The id of `name`, or -1 when this tree has never seen it.
  std::int64_t find_name(std::string_view name) const;
  std::string_view name(std::uint32_t id) const { return names_[id]; }
  // The module (executable or library path) of a frame name, for inputs that give one per frame
  // (perf script's "(MODULE)"): the first set stays. Empty when none was set.
  void set_module(std::uint32_t name, std::string_view module);
  std::string_view module(std::uint32_t name) const {
    return name < name_modules_.size() ? std::string_view(modules_[name_modules_[name]])
                                       : std::string_view();
  }

  // The child of `parent` for this frame, created (with zero counts) when new.
  std::uint32_t child(std::uint32_t parent, FrameRef frame);
  // The child of `parent` for this frame, or -1 when there is none; never adds.
  std::int64_t find_child(std::uint32_t parent, FrameRef frame) const;

  // Counts `count` samples ending at `node`: its self, and the total of it and every ancestor.
  void add_count(std::uint32_t node, std::int64_t count);
  // A whole stack, root first.
  void add(std::span<const FrameRef> root_first, std::int64_t count);
  // A whole stack of names, root first (each name may carry a folded kind suffix).
  void add_names(std::span<const std::string_view> root_first, std::int64_t count);

  const Node& node(std::uint32_t id) const { return nodes_[id]; }
  std::size_t size() const { return nodes_.size(); }
  std::int64_t total() const { return nodes_[kRoot].total; }
  std::uint32_t max_depth() const { return max_depth_; }

  // The children of `id`, sorted by name, then kind.
  std::vector<std::uint32_t> children(std::uint32_t id) const;
  // Every node's children at once (index: node id), each list sorted like children().
  std::vector<std::vector<std::uint32_t>> all_children() const;

  // The frames from the root's child down to `id` (empty for the root).
  std::vector<std::uint32_t> path(std::uint32_t id) const;

 private:
  // One entry of the child index: (parent, name, kind) -> node.
  struct Slot {
    std::uint32_t parent = 0;
    std::uint32_t name = 0;
    std::uint32_t node = 0;  // 0: empty (the root is nobody's child)
    FrameKind kind = FrameKind::user;
  };
  static std::size_t slot_hash(std::uint32_t parent, FrameRef frame) {
    std::uint64_t k = (static_cast<std::uint64_t>(parent) << 32 | frame.name) ^
                      (static_cast<std::uint64_t>(frame.kind) << 62);
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<std::size_t>(k);
  }
  void grow_slots();

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<Node> nodes_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> name_index_;
  // The children of every node, by (parent, name, kind): open addressing with linear probing in a
  // power-of-two table kept at most half full, so a lookup is one or two reads of one array (the
  // parsers look up every frame of every sample here).
  std::vector<Slot> slots_;
  std::uint32_t max_depth_ = 0;
  std::vector<std::string> modules_ = {""};  // distinct modules; 0 is none
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> module_index_;
  std::vector<std::uint32_t> name_modules_;  // name id -> modules_ index
};

struct TreeOptions {
  bool include_comm = true;     // the "comm" label as the root frame (when the sample has one)
  std::size_t value_index = 0;  // which Sample::values entry is counted
  profile::SampleFilter filter = {};
};

// A Profile's samples as a tree. Each location gives its out-of-line function, then the functions
// inlined into it (kind inlined); frames in kernel mappings are kernel, in JIT maps ("[jit] ...",
// perf-PID.map) JIT. Error only for a value_index outside the profile's sample types.
Result<StackTree> tree_from_profile(const profile::Profile& p, const TreeOptions& options = {});

// Folded lines for the tree: one per node with self samples, frames root first, kinds as folded
// suffixes. Lines come in tree order (sorted by frame names).
std::string folded_from_tree(const StackTree& tree);

}  // namespace perfscope::output
