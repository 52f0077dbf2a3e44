#include "formats/stack_profile.hpp"
#include "profile/checked_math.hpp"

#include <algorithm>

namespace perfscope::formats {

using output::FrameKind;
using output::StackTree;
using profile::Profile;

std::uint64_t StackProfileBuilder::mapping(std::string_view name) {
  auto it = mappings_.find(name);
  if (it == mappings_.end()) {
    it = mappings_
             .emplace(std::string(name),
                      p_.add_mapping({.filename = p_.intern(name), .has_functions = true}))
             .first;
  }
  return it->second;
}

std::uint64_t StackProfileBuilder::location(const std::vector<std::uint64_t>& functions,
                                            std::uint64_t mapping_id) {
  std::vector<std::uint64_t> key = functions;
  key.push_back(mapping_id);
  auto [it, inserted] = locations_.try_emplace(std::move(key), 0);
  if (inserted) {
    profile::Location l{.mapping_id = mapping_id};
    for (std::uint64_t f : functions) {
      l.lines.push_back({.function_id = f, .line = p_.function(f).start_line});
    }
    it->second = p_.add_location(std::move(l));
  }
  return it->second;
}

void StackProfileBuilder::add(profile::StringId comm, const std::vector<std::uint64_t>& leaf_first,
                              std::int64_t weight, std::int64_t samples) {
  if (weight == 0 && samples == 0) return;
  Sums& sums = stacks_[{comm, leaf_first}];
  profile::add_saturating(sums.weight, weight);
  profile::add_saturating(sums.samples, samples);
}

void StackProfileBuilder::finish(std::size_t values) {
  finish(values, false);
}

void StackProfileBuilder::finish_with_samples() {
  finish(2, true);
}

void StackProfileBuilder::finish(std::size_t values, bool with_samples) {
  // "comm" enters the string table only when a sample has one: LabelKeys tells the labels there are
  // from the table.
  profile::StringId comm_key = 0;
  // Each stack moves into its sample (extracted in order), so it is never held twice.
  while (!stacks_.empty()) {
    auto node = stacks_.extract(stacks_.begin());
    const profile::StringId comm = node.key().first;
    profile::Sample s{.location_ids = std::move(node.key().second),
                      .values = std::vector<std::int64_t>(values, 0)};
    if (with_samples) {
      s.values[0] = node.mapped().samples;
      s.values[1] = node.mapped().weight;
    } else {
      s.values[0] = node.mapped().weight;
    }
    if (comm != 0) {
      if (comm_key == 0) comm_key = p_.intern("comm");
      s.labels.push_back({.key = comm_key, .str = comm});
    }
    p_.add_sample(std::move(s));
  }
}

Profile profile_from_tree(const StackTree& tree, const TreeProfileOptions& options) {
  Profile p;
  const bool with_samples = !options.samples_per_node.empty() && !options.value_type.empty();
  p.sample_types = {{p.intern("samples"), p.intern("count")}};
  if (!options.value_type.empty()) {
    const profile::ValueType weights{
        p.intern(options.value_type),
        p.intern(options.value_unit.empty() ? std::string_view("count") : options.value_unit)};
    if (with_samples) {
      p.sample_types.push_back(weights);
      p.default_sample_type = weights.type;
    } else {
      p.sample_types = {weights};
    }
  }
  auto samples_at = [&](std::uint32_t node) -> std::int64_t {
    return node < options.samples_per_node.size() ? options.samples_per_node[node] : 0;
  };
  StackProfileBuilder builder(p);
  std::map<std::uint32_t, std::uint64_t> function_of;  // tree name id -> function id
  auto function = [&](std::uint32_t name) {
    auto [it, inserted] = function_of.try_emplace(name, 0);
    if (inserted) it->second = p.add_function(tree.name(name), {}, {});
    return it->second;
  };
  const auto kids = tree.all_children();
  // Depth-first in sorted order; `path` holds the frames from the root's child down.
  std::vector<std::uint32_t> path;
  std::vector<std::pair<std::uint32_t, bool>> todo;  // (node, leaving)
  for (auto it = kids[StackTree::kRoot].rbegin(); it != kids[StackTree::kRoot].rend(); ++it) {
    todo.emplace_back(*it, false);
  }
  std::vector<std::uint64_t> stack, functions;
  while (!todo.empty()) {
    const auto [id, leaving] = todo.back();
    todo.pop_back();
    if (leaving) {
      path.pop_back();
      continue;
    }
    path.push_back(id);
    todo.emplace_back(id, true);
    for (auto it = kids[id].rbegin(); it != kids[id].rend(); ++it) todo.emplace_back(*it, false);
    const StackTree::Node& n = tree.node(id);
    if (n.self == 0 && samples_at(id) == 0) continue;
    profile::StringId comm = 0;
    std::size_t i = 0;
    if (options.roots_are_comm) {
      comm = p.intern(tree.name(tree.node(path[0]).name));
      i = 1;
    }
    // Locations root first: a frame that is not inlined starts one; inlined frames join it.
    stack.clear();
    while (i < path.size()) {
      const StackTree::Node& outer = tree.node(path[i]);
      functions.clear();
      functions.push_back(function(outer.name));
      std::size_t k = i + 1;
      for (; k < path.size() && tree.node(path[k]).kind == FrameKind::inlined; ++k) {
        functions.push_back(function(tree.node(path[k]).name));
      }
      std::reverse(functions.begin(), functions.end());  // innermost first
      std::uint64_t mapping = 0;
      if (outer.kind == FrameKind::kernel) mapping = builder.mapping("[kernel.kallsyms]");
      if (outer.kind == FrameKind::jit) mapping = builder.mapping("[jit] compiled code");
      // A user frame's module, when the input named one (perf script's "(MODULE)").
      if (outer.kind == FrameKind::user) {
        if (const std::string_view module = tree.module(outer.name); !module.empty()) {
          mapping = builder.mapping(module);
        }
      }
      stack.push_back(builder.location(functions, mapping));
      i = k;
    }
    std::reverse(stack.begin(), stack.end());  // leaf first
    builder.add(comm, stack, n.self, samples_at(id));
  }
  if (with_samples) {
    builder.finish_with_samples();
  } else {
    builder.finish(1);
  }
  return p;
}

}  // namespace perfscope::formats
