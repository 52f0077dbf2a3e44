#include "profile/call_tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <regex>
#include <unordered_map>

#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::profile {
namespace {

constexpr std::uint32_t kNoKey = UINT32_MAX;

// Every function of the profile as a dense key, named as hottest() names it by function; each
// location's keys innermost first: location id i owns keys[offsets[i - 1] .. offsets[i]).
struct Frames {
  std::vector<std::string> names;
  std::vector<std::uint32_t> offsets{0};
  std::vector<std::uint32_t> keys;

  explicit Frames(const Profile& p) {
    std::unordered_map<std::string, std::uint32_t> ids;
    auto key_of = [&](std::string name) {
      auto [it, inserted] = ids.try_emplace(name, static_cast<std::uint32_t>(names.size()));
      if (inserted) names.push_back(std::move(name));
      return it->second;
    };
    // [function id - 1][inlined]
    std::vector<std::array<std::uint32_t, 2>> of_function(p.functions().size(), {kNoKey, kNoKey});
    for (const Location& l : p.locations()) {
      for (std::size_t i = 0; i < l.lines.size(); ++i) {
        const std::uint64_t id = l.lines[i].function_id;
        const bool inlined = i + 1 < l.lines.size();
        std::uint32_t& key = of_function[id - 1][inlined ? 1 : 0];
        if (key == kNoKey) {
          std::string name = function_name(p, p.function(id));
          if (inlined) name += " (inlined)";
          key = key_of(std::move(name));
        }
        keys.push_back(key);
      }
      if (l.lines.empty()) keys.push_back(key_of(unsymbolized_name(p, l)));
      offsets.push_back(static_cast<std::uint32_t>(keys.size()));
    }
  }

  // The sample's frames, leaf first, into `out`.
  void of(const Sample& s, std::vector<std::uint32_t>& out) const {
    out.clear();
    for (std::uint64_t id : s.location_ids) {
      out.insert(out.end(), keys.begin() + offsets[id - 1], keys.begin() + offsets[id]);
    }
  }
};

// A trie of paths from one root; node 0 is the root.
struct Trie {
  struct Node {
    std::uint32_t key = 0;
    std::int64_t total = 0;
    std::map<std::uint32_t, std::uint32_t> children;  // key -> node index
  };
  std::vector<Node> nodes;

  explicit Trie(std::uint32_t root) { nodes.push_back({root, 0, {}}); }

  // Adds `w` to the root and to every node along `path` (the frames after the root, in order).
  template <typename It>
  void add(It first, It last, std::int64_t w) {
    std::uint32_t at = 0;
    add_saturating(nodes[0].total, w);
    for (; first != last; ++first) {
      auto [it, inserted] =
          nodes[at].children.try_emplace(*first, static_cast<std::uint32_t>(nodes.size()));
      if (inserted) nodes.push_back({*first, 0, {}});
      at = it->second;
      add_saturating(nodes[at].total, w);
    }
  }

  // Node `at` and its descendants of at least `floor`, heaviest first.
  TreeNode build(std::uint32_t at, const std::vector<std::string>& names, std::int64_t floor,
                 std::size_t depth) const {
    TreeNode out{names[nodes[at].key], nodes[at].total, 0, {}};
    if (depth > 4096) return out;  // pathological stacks: the tree stays printable
    for (const auto& [key, child] : nodes[at].children) {
      if (nodes[child].total < floor || nodes[child].total == 0) continue;
      out.children.push_back(build(child, names, floor, depth + 1));
    }
    std::sort(out.children.begin(), out.children.end(), [](const TreeNode& a, const TreeNode& b) {
      return a.total != b.total ? a.total > b.total : a.name < b.name;
    });
    return out;
  }
};

}  // namespace

Result<TreeOrder> parse_tree_order(std::string_view name) {
  if (name == "caller") return TreeOrder::caller;
  if (name == "callee") return TreeOrder::callee;
  return Error{fmt::format("unknown call graph order '{}'", name), 0,
               "  choose caller (a function, then what it calls) or callee (a function, then "
               "what calls it)"};
}

Result<CallTree> call_tree(const Profile& p, const TreeOptions& o) {
  if (o.value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", o.value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  const Frames frames(p);
  const SampleMatcher match(p, o.filter);
  CallTree tree{.order = o.order};
  std::vector<std::int64_t> self(frames.names.size()), total(frames.names.size());
  std::vector<std::size_t> stamp(frames.names.size());  // == n + 1: counted for sample n
  std::vector<std::uint32_t> stack;
  const auto& samples = p.samples();
  auto weight = [&](const Sample& s) {
    return o.value_index < s.values.size() ? s.values[o.value_index] : std::int64_t{0};
  };
  for (std::size_t n = 0; n < samples.size(); ++n) {
    if (!match(samples[n])) continue;
    const std::int64_t w = weight(samples[n]);
    add_saturating(tree.total, w);
    ++tree.samples;
    frames.of(samples[n], stack);
    if (stack.empty()) continue;
    add_saturating(self[stack.front()], w);
    for (std::uint32_t key : stack) {
      if (stamp[key] == n + 1) continue;
      stamp[key] = n + 1;
      add_saturating(total[key], w);
    }
  }

  std::vector<std::uint32_t> roots;
  if (!o.roots.empty()) {
    std::regex re;
    try {
      re = std::regex(o.roots, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{fmt::format("cannot use '{}' as a regular expression: {}", o.roots, e.what()), 0,
                   "  it is an ECMAScript regex, searched in each function's name"};
    }
    for (std::uint32_t k = 0; k < frames.names.size(); ++k) {
      if (total[k] > 0 && std::regex_search(frames.names[k], re)) roots.push_back(k);
    }
    if (roots.empty()) {
      return Error{fmt::format("no function in the matching samples matches '{}'", o.roots), 0,
                   "  list them with `perfscope report --sort total --top 0`"};
    }
  } else {
    for (std::uint32_t k = 0; k < frames.names.size(); ++k) {
      if (total[k] > 0) roots.push_back(k);
    }
  }
  std::sort(roots.begin(), roots.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (total[a] != total[b]) return total[a] > total[b];
    if (self[a] != self[b]) return self[a] > self[b];
    return frames.names[a] < frames.names[b];
  });
  if (o.top != 0 && roots.size() > o.top) roots.resize(o.top);

  // Nodes of at least min_percent of the total; rounding down, so 0.5% of 200 samples is 1.
  const auto floor =
      static_cast<std::int64_t>(static_cast<double>(tree.total) * o.min_percent / 100.0);
  for (std::uint32_t root : roots) {
    Trie trie(root);
    for (const Sample& s : samples) {
      if (!match(s)) continue;
      frames.of(s, stack);
      const std::int64_t w = weight(s);
      if (o.order == TreeOrder::caller) {
        // Outermost occurrence, then towards the leaf.
        auto outer = std::find(stack.rbegin(), stack.rend(), root);
        if (outer == stack.rend()) continue;
        trie.add(outer + 1, stack.rend(), w);
      } else {
        // Innermost occurrence, then towards the root.
        auto inner = std::find(stack.begin(), stack.end(), root);
        if (inner == stack.end()) continue;
        trie.add(inner + 1, stack.end(), w);
      }
    }
    TreeNode node = trie.build(0, frames.names, floor, 0);
    node.self = self[root];
    tree.roots.push_back(std::move(node));
  }
  return tree;
}

}  // namespace perfscope::profile
