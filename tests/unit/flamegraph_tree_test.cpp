// StackTree: merging stacks, counts, ordering, and trees built from a Profile.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "output/stack_tree.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::output {
namespace {

// "a;b;c" for a node, with kind suffixes, for readable expectations.
std::string path_text(const StackTree& t, std::uint32_t id) {
  std::string out;
  for (std::uint32_t n : t.path(id)) {
    if (!out.empty()) out += ';';
    out += t.name(t.node(n).name);
    out += kind_suffix(t.node(n).kind);
  }
  return out;
}

std::int64_t find_path(const StackTree& t, const std::vector<std::string>& names,
                       FrameKind last_kind = FrameKind::user) {
  std::uint32_t n = StackTree::kRoot;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::int64_t name = t.find_name(names[i]);
    if (name < 0) return -1;
    const FrameKind kind = i + 1 == names.size() ? last_kind : FrameKind::user;
    const std::int64_t c = t.find_child(n, {static_cast<std::uint32_t>(name), kind});
    if (c < 0) return -1;
    n = static_cast<std::uint32_t>(c);
  }
  return n;
}

TEST(FlamegraphTree, MergesCommonPrefixesAndCountsSelfAndTotal) {
  StackTree t;
  const std::vector<std::string_view> s1{"main", "parse", "memcpy"};
  const std::vector<std::string_view> s2{"main", "parse"};
  const std::vector<std::string_view> s3{"main", "serve"};
  t.add_names(s1, 60);
  t.add_names(s2, 20);
  t.add_names(s3, 10);
  t.add_names(s1, 5);
  EXPECT_EQ(t.total(), 95);
  EXPECT_EQ(t.size(), 5u);  // all, main, parse, memcpy, serve
  EXPECT_EQ(t.max_depth(), 3u);
  const auto parse = find_path(t, {"main", "parse"});
  ASSERT_GE(parse, 0);
  EXPECT_EQ(t.node(static_cast<std::uint32_t>(parse)).total, 85);
  EXPECT_EQ(t.node(static_cast<std::uint32_t>(parse)).self, 20);
  const auto memcpy = find_path(t, {"main", "parse", "memcpy"});
  EXPECT_EQ(t.node(static_cast<std::uint32_t>(memcpy)).self, 65);
  EXPECT_EQ(t.node(static_cast<std::uint32_t>(memcpy)).depth, 3u);
  EXPECT_EQ(path_text(t, static_cast<std::uint32_t>(memcpy)), "main;parse;memcpy");
}

TEST(FlamegraphTree, ChildrenAreSortedByNameWhateverTheInsertionOrder) {
  StackTree a, b;
  const std::vector<std::vector<std::string_view>> stacks{
      {"m", "zeta"}, {"m", "alpha"}, {"m", "mid"}};
  for (const auto& s : stacks) a.add_names(s, 1);
  for (auto it = stacks.rbegin(); it != stacks.rend(); ++it) b.add_names(*it, 1);
  EXPECT_EQ(folded_from_tree(a), folded_from_tree(b));
  EXPECT_EQ(folded_from_tree(a), "m;alpha 1\nm;mid 1\nm;zeta 1\n");
}

TEST(FlamegraphTree, KindSuffixesMakeDistinctFramesAndRoundTrip) {
  StackTree t;
  const std::vector<std::string_view> user{"app", "read"};
  const std::vector<std::string_view> kernel{"app", "read_[k]"};
  const std::vector<std::string_view> inl{"app", "helper_[i]", "jitted_[j]"};
  t.add_names(user, 1);
  t.add_names(kernel, 2);
  t.add_names(inl, 3);
  EXPECT_EQ(folded_from_tree(t), "app;helper_[i];jitted_[j] 3\napp;read 1\napp;read_[k] 2\n");
  EXPECT_GE(find_path(t, {"app", "read"}, FrameKind::kernel), 0);
  EXPECT_EQ(split_kind_suffix("x_[w]").name, "x_[w]");  // unknown annotations stay in the name
  EXPECT_EQ(split_kind_suffix("_[k]").name, "_[k]");    // nothing before the suffix: a name
}

TEST(FlamegraphTree, FromProfileUsesCommRootInlineChainsAndKernelMappings) {
  testing::TestProfile t;
  const auto kernel = t.frame("do_syscall_64", "[kernel.kallsyms]");
  const auto inlined = t.inlined({"inner", "outer"});  // inner inlined into outer
  t.add_locations({t.frame("main"), inlined, kernel}, 7);
  t.add({"main", "work"}, 3, {.pid = 200, .tid = 200, .cpu = 0, .comm = "other"});
  auto tree = tree_from_profile(t.p);
  ASSERT_TRUE(tree) << tree.error().describe();
  EXPECT_EQ(tree->total(), 10);
  EXPECT_EQ(folded_from_tree(*tree),
            "app;main;outer;inner_[i];do_syscall_64_[k] 7\n"
            "other;main;work 3\n");

  auto no_comm = tree_from_profile(t.p, {.include_comm = false});
  ASSERT_TRUE(no_comm);
  EXPECT_EQ(folded_from_tree(*no_comm), "main;outer;inner_[i];do_syscall_64_[k] 7\nmain;work 3\n");

  auto filtered = tree_from_profile(t.p, {.filter = {.pids = {200}}});
  ASSERT_TRUE(filtered);
  EXPECT_EQ(folded_from_tree(*filtered), "other;main;work 3\n");

  auto cpu = tree_from_profile(t.p, {.value_index = 1});
  ASSERT_TRUE(cpu);
  EXPECT_EQ(cpu->total(), 10 * testing::TestProfile::kPeriod);
  EXPECT_FALSE(tree_from_profile(t.p, {.value_index = 2}));
}

TEST(FlamegraphTree, EmptyStacksCountAsUnknown) {
  testing::TestProfile t;
  t.add_locations({}, 4);
  auto tree = tree_from_profile(t.p, {.include_comm = false});
  ASSERT_TRUE(tree);
  EXPECT_EQ(folded_from_tree(*tree), "[unknown] 4\n");
}

}  // namespace
}  // namespace perfscope::output
