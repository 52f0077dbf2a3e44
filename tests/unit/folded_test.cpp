// Folded stacks: exact text, since flame graph tools parse it.
#include "output/folded.hpp"

#include <gtest/gtest.h>

#include "formats/folded_reader.hpp"
#include "output/stack_tree.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::output {
namespace {

using testing::TestProfile;

std::string fold(const profile::Profile& p, const FoldedOptions& o = {}) {
  auto r = folded(p, o);
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : std::string{};
}

TEST(Folded, OneSortedLinePerStackRootFirstWithTheCommand) {
  TestProfile t;
  t.add({"main", "work"}, 3);
  t.add({"main", "parse", "memcpy"}, 5);
  t.add({"main", "work"}, 2);
  t.add({"main"}, 1, {.comm = "bash"});
  EXPECT_EQ(fold(t.p),
            "app;main;parse;memcpy 5\n"
            "app;main;work 5\n"
            "bash;main 1\n");
}

TEST(Folded, WithoutTheCommandStacksOfAllProcessesMerge) {
  TestProfile t;
  t.add({"main", "work"}, 3, {.pid = 1, .comm = "a"});
  t.add({"main", "work"}, 4, {.pid = 2, .comm = "b"});
  EXPECT_EQ(fold(t.p, {.include_comm = false}), "main;work 7\n");
}

TEST(Folded, InlinedFunctionsAreFramesBelowTheirCaller) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.inlined({"inner", "middle", "outer"})}, 2);
  EXPECT_EQ(fold(t.p), "app;main;outer;middle;inner 2\n");
}

TEST(Folded, DifferentLocationsThatPrintTheSameAreSummed) {
  TestProfile t;
  const auto m = t.mapping("/usr/bin/app");
  const auto f = t.p.add_function("hot", "", "");
  const auto a = t.p.add_location({m, 0x400100, {{f, 1}}});
  const auto b = t.p.add_location({m, 0x400200, {{f, 2}}});
  t.add_locations({t.frame("main"), a}, 2);
  t.add_locations({t.frame("main"), b}, 3);
  EXPECT_EQ(fold(t.p), "app;main;hot 5\n");
}

TEST(Folded, SemicolonsAndLineBreaksInNamesAreReplaced) {
  TestProfile t;
  t.add({"operator;weird", "line\nbreak"}, 1, {.comm = "my;comm"});
  EXPECT_EQ(fold(t.p), "my:comm;operator:weird;line break 1\n");
}

TEST(Folded, KernelFramesCanBeAnnotated) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.frame("do_syscall_64", "[kernel.kallsyms]")}, 1);
  EXPECT_EQ(fold(t.p, {.annotate = true}), "app;main;do_syscall_64_[k] 1\n");
  EXPECT_EQ(fold(t.p), "app;main;do_syscall_64 1\n");
}

TEST(Folded, AnnotateMarksKernelJitAndInlinedFramesAsStackcollapseDoes) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.inlined({"inner", "outer"}),
                   t.frame("LazyCompile:*fib", "/tmp/perf-42.map"),
                   t.inlined({"copy_user", "do_syscall_64"}, "[kernel.kallsyms]")},
                  3);
  // The out-of-line frame of a kernel or JIT location carries its mapping's kind; what was
  // inlined into it is "_[i]", in the kernel too.
  EXPECT_EQ(fold(t.p, {.annotate = true}),
            "app;main;outer;inner_[i];LazyCompile:*fib_[j];do_syscall_64_[k];copy_user_[i] 3\n");
  EXPECT_EQ(fold(t.p), "app;main;outer;inner;LazyCompile:*fib;do_syscall_64;copy_user 3\n");
}

TEST(Folded, AnnotatedTextReadsBackIntoTheSameTreeWithKinds) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.inlined({"inner", "outer"}),
                   t.frame("entry_SYSCALL_64", "[kernel.kallsyms]")},
                  2);
  t.add_locations({t.frame("main"), t.frame("jitted", "[jit] /tmp/perf-7.map")}, 1);
  auto tree = tree_from_profile(t.p);
  ASSERT_TRUE(tree) << tree.error().describe();
  StackTree back;
  formats::FoldedReader reader(back, "annotated.folded");
  ASSERT_TRUE(reader.add_text(fold(t.p, {.annotate = true})));
  // folded_from_tree writes each frame's kind as its suffix: the same text means the same kinds.
  EXPECT_EQ(folded_from_tree(back), folded_from_tree(*tree));
  EXPECT_EQ(folded_from_tree(back), fold(t.p, {.annotate = true}));
  const auto kinds = [&](const StackTree& st) {
    std::string out;
    for (std::uint32_t id = 1; id < st.size(); ++id) {
      out += std::string(st.name(st.node(id).name)) + "=" +
             std::string(kind_name(st.node(id).kind)) + " ";
    }
    return out;
  };
  EXPECT_NE(kinds(back).find("entry_SYSCALL_64=kernel"), std::string::npos) << kinds(back);
  EXPECT_NE(kinds(back).find("inner=inlined"), std::string::npos) << kinds(back);
  EXPECT_NE(kinds(back).find("jitted=jit"), std::string::npos) << kinds(back);
  EXPECT_NE(kinds(back).find("outer=user"), std::string::npos) << kinds(back);
}

TEST(Folded, UnsymbolizedFramesAndEmptyStacks) {
  TestProfile t;
  const auto m = t.mapping("/usr/lib/libfoo.so");
  t.add_locations({t.frame("main"), t.p.add_location({m, t.p.mapping(m).start + 0x10, {}})}, 1);
  t.add_locations({}, 2);
  t.p.add_sample({{}, {4, 0}, {}});  // no stack, no command
  EXPECT_EQ(fold(t.p),
            "[unknown] 4\n"
            "app 2\n"
            "app;main;libfoo.so+0x10 1\n");
}

TEST(Folded, FilterAndValueChoice) {
  TestProfile t;
  t.add({"main", "serve"}, 5, {.pid = 10, .comm = "web"});
  t.add({"main", "query"}, 4, {.pid = 20, .comm = "db"});
  EXPECT_EQ(fold(t.p, {.filter = {.pids = {20}}}), "db;main;query 4\n");
  EXPECT_EQ(fold(t.p, {.value_index = 1, .filter = {.comm = "web"}}), "web;main;serve 50000000\n");
  EXPECT_EQ(fold(t.p, {.filter = {.comm = "nobody"}}), "");
  EXPECT_FALSE(folded(t.p, {.value_index = 5}));
}

TEST(Folded, ZeroCountsAreLeftOut) {
  TestProfile t;
  t.add({"main", "idle"}, 0);
  t.add({"main"}, 1);
  EXPECT_EQ(fold(t.p), "app;main 1\n");
}

}  // namespace
}  // namespace perfscope::output
