#include "output/stack_tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::output {

std::string_view kind_name(FrameKind kind) {
  switch (kind) {
    case FrameKind::user:
      return "user";
    case FrameKind::kernel:
      return "kernel";
    case FrameKind::jit:
      return "jit";
    case FrameKind::inlined:
      return "inlined";
  }
  return "user";
}

std::string_view kind_suffix(FrameKind kind) {
  switch (kind) {
    case FrameKind::user:
      return "";
    case FrameKind::kernel:
      return "_[k]";
    case FrameKind::jit:
      return "_[j]";
    case FrameKind::inlined:
      return "_[i]";
  }
  return "";
}

SplitName split_kind_suffix(std::string_view annotated) {
  if (annotated.size() > 4 && annotated.ends_with("]") && annotated[annotated.size() - 4] == '_' &&
      annotated[annotated.size() - 3] == '[') {
    const std::string_view name = annotated.substr(0, annotated.size() - 4);
    switch (annotated[annotated.size() - 2]) {
      case 'k':
        return {name, FrameKind::kernel};
      case 'j':
        return {name, FrameKind::jit};
      case 'i':
        return {name, FrameKind::inlined};
      default:
        break;
    }
  }
  return {annotated, FrameKind::user};
}

StackTree::StackTree() {
  names_.emplace_back("all");
  name_index_.emplace("all", 0);
  nodes_.push_back(Node{});
}

void StackTree::set_module(std::uint32_t name, std::string_view module) {
  if (module.empty() || name >= names_.size()) return;
  if (name_modules_.size() <= name) name_modules_.resize(names_.size(), 0);
  if (name_modules_[name] != 0) return;
  auto it = module_index_.find(module);
  if (it == module_index_.end()) {
    it = module_index_.emplace(std::string(module), static_cast<std::uint32_t>(modules_.size()))
             .first;
    modules_.emplace_back(module);
  }
  name_modules_[name] = it->second;
}

std::uint32_t StackTree::intern(std::string_view name) {
  if (auto it = name_index_.find(name); it != name_index_.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(names_.size());
  names_.emplace_back(name);
  name_index_.emplace(names_.back(), id);
  return id;
}

std::int64_t StackTree::find_name(std::string_view name) const {
  auto it = name_index_.find(name);
  return it == name_index_.end() ? -1 : it->second;
}

std::int64_t StackTree::find_child(std::uint32_t parent, FrameRef frame) const {
  if (slots_.empty()) return -1;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_hash(parent, frame) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.node == 0) return -1;
    if (s.parent == parent && s.name == frame.name && s.kind == frame.kind) return s.node;
  }
}

void StackTree::grow_slots() {
  std::vector<Slot> old =
      std::exchange(slots_, std::vector<Slot>(std::max<std::size_t>(1024, slots_.size() * 2)));
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.node == 0) continue;
    std::size_t i = slot_hash(s.parent, {s.name, s.kind}) & mask;
    while (slots_[i].node != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

std::uint32_t StackTree::child(std::uint32_t parent, FrameRef frame) {
  if (const std::int64_t found = find_child(parent, frame); found >= 0) {
    return static_cast<std::uint32_t>(found);
  }
  const auto id = static_cast<std::uint32_t>(nodes_.size());
  const std::uint32_t depth = nodes_[parent].depth + 1;
  nodes_.push_back(Node{.name = frame.name, .parent = parent, .depth = depth, .kind = frame.kind});
  // Nodes other than the root each take one slot: at most half the table is in use.
  if (2 * nodes_.size() > slots_.size()) grow_slots();
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = slot_hash(parent, frame) & mask;
  while (slots_[i].node != 0) i = (i + 1) & mask;
  slots_[i] = Slot{.parent = parent, .name = frame.name, .node = id, .kind = frame.kind};
  max_depth_ = std::max(max_depth_, depth);
  return id;
}

void StackTree::add_count(std::uint32_t node, std::int64_t count) {
  profile::add_saturating(nodes_[node].self, count);
  for (std::uint32_t n = node;; n = nodes_[n].parent) {
    profile::add_saturating(nodes_[n].total, count);
    if (n == kRoot) break;
  }
}

void StackTree::add(std::span<const FrameRef> root_first, std::int64_t count) {
  std::uint32_t n = kRoot;
  for (const FrameRef& f : root_first) n = child(n, f);
  add_count(n, count);
}

void StackTree::add_names(std::span<const std::string_view> root_first, std::int64_t count) {
  std::uint32_t n = kRoot;
  for (std::string_view annotated : root_first) {
    const SplitName s = split_kind_suffix(annotated);
    n = child(n, {intern(s.name), s.kind});
  }
  add_count(n, count);
}

std::vector<std::vector<std::uint32_t>> StackTree::all_children() const {
  std::vector<std::vector<std::uint32_t>> out(nodes_.size());
  for (std::uint32_t id = 1; id < nodes_.size(); ++id) out[nodes_[id].parent].push_back(id);
  for (auto& list : out) {
    std::sort(list.begin(), list.end(), [&](std::uint32_t a, std::uint32_t b) {
      const std::string_view na = names_[nodes_[a].name], nb = names_[nodes_[b].name];
      if (na != nb) return na < nb;
      return nodes_[a].kind < nodes_[b].kind;
    });
  }
  return out;
}

std::vector<std::uint32_t> StackTree::children(std::uint32_t id) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t n = 1; n < nodes_.size(); ++n) {
    if (nodes_[n].parent == id) out.push_back(n);
  }
  std::sort(out.begin(), out.end(), [&](std::uint32_t a, std::uint32_t b) {
    const std::string_view na = names_[nodes_[a].name], nb = names_[nodes_[b].name];
    if (na != nb) return na < nb;
    return nodes_[a].kind < nodes_[b].kind;
  });
  return out;
}

std::vector<std::uint32_t> StackTree::path(std::uint32_t id) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t n = id; n != kRoot; n = nodes_[n].parent) out.push_back(n);
  std::reverse(out.begin(), out.end());
  return out;
}

namespace {

std::string frame_name(std::string name) {
  // ';' separates frames in folded lines: keep names that way-safe.
  std::replace(name.begin(), name.end(), ';', ':');
  return name;
}

}  // namespace

Result<StackTree> tree_from_profile(const profile::Profile& p, const TreeOptions& o) {
  if (o.value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", o.value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  StackTree tree;
  // The frames of each location, root first, built once per location.
  // pprof order is innermost first: the last line is the out-of-line function, the rest were
  // inlined into it.
  std::vector<std::vector<FrameRef>> location_frames(p.locations().size());
  std::vector<bool> built(p.locations().size(), false);
  auto frames_of = [&](std::uint64_t id) -> const std::vector<FrameRef>& {
    auto& out = location_frames[id - 1];
    if (built[id - 1]) return out;
    built[id - 1] = true;
    const profile::Location& l = p.location(id);
    FrameKind kind = FrameKind::user;
    if (profile::is_kernel_mapping(p, l.mapping_id)) {
      kind = FrameKind::kernel;
    } else if (l.mapping_id != 0 && l.mapping_id <= p.mappings().size() &&
               profile::is_jit_mapping_name(p.string(p.mapping(l.mapping_id).filename))) {
      kind = FrameKind::jit;
    }
    if (l.lines.empty()) {
      out.push_back({tree.intern(frame_name(profile::unsymbolized_name(p, l))), kind});
      return out;
    }
    for (auto it = l.lines.rbegin(); it != l.lines.rend(); ++it) {
      if (it->function_id == 0 || it->function_id > p.functions().size()) continue;
      out.push_back(
          {tree.intern(frame_name(profile::function_name(p, p.function(it->function_id)))),
           it == l.lines.rbegin() ? kind : FrameKind::inlined});
    }
    return out;
  };

  const profile::SampleMatcher match(p, o.filter);
  const profile::LabelKeys keys(p);
  for (const profile::Sample& s : p.samples()) {
    if (!match(s)) continue;
    const std::int64_t w = o.value_index < s.values.size() ? s.values[o.value_index] : 0;
    if (w == 0) continue;
    std::uint32_t n = StackTree::kRoot;
    if (o.include_comm) {
      const profile::StringId comm = profile::str_label(s, keys.comm);
      if (comm != 0) {
        n = tree.child(
            n, {tree.intern(frame_name(profile::printable(p.string(comm)))), FrameKind::user});
      }
    }
    for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend(); ++it) {
      if (*it == 0 || *it > p.locations().size()) continue;
      for (const FrameRef& f : frames_of(*it)) n = tree.child(n, f);
    }
    if (n == StackTree::kRoot) n = tree.child(n, {tree.intern("[unknown]"), FrameKind::user});
    tree.add_count(n, w);
  }
  return tree;
}

std::string folded_from_tree(const StackTree& tree) {
  const auto kids = tree.all_children();
  std::string out;
  std::string prefix;
  // Iterative depth-first walk: (node, length of prefix before this node's frame).
  std::vector<std::pair<std::uint32_t, std::size_t>> stack;
  for (auto it = kids[StackTree::kRoot].rbegin(); it != kids[StackTree::kRoot].rend(); ++it) {
    stack.emplace_back(*it, 0);
  }
  while (!stack.empty()) {
    auto [id, len] = stack.back();
    stack.pop_back();
    prefix.resize(len);
    const StackTree::Node& n = tree.node(id);
    if (!prefix.empty()) prefix += ';';
    prefix += tree.name(n.name);
    prefix += kind_suffix(n.kind);
    if (n.self != 0) fmt::format_to(std::back_inserter(out), "{} {}\n", prefix, n.self);
    const std::size_t here = prefix.size();
    for (auto it = kids[id].rbegin(); it != kids[id].rend(); ++it) stack.emplace_back(*it, here);
  }
  return out;
}

}  // namespace perfscope::output
