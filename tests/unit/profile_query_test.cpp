// Queries behind `perfscope report`: self and total, grouping, filters, ordering, totals.
#include <gtest/gtest.h>

#include "profile/annotate.hpp"
#include "profile/names.hpp"
#include "profile/query.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::profile {
namespace {

using testing::TestProfile;
using testing::Thread;

Hottest query(const Profile& p, QueryOptions o = {}) {
  auto h = hottest(p, o);
  EXPECT_TRUE(h) << h.error().describe();
  return h ? *h : Hottest{};
}

const Entry* find(const Hottest& h, const std::string& name) {
  for (const auto& e : h.entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// "name self/total" for each row, in order.
std::vector<std::string> rows(const Hottest& h) {
  std::vector<std::string> out;
  for (const auto& e : h.entries) {
    out.push_back(e.name + " " + std::to_string(e.self) + "/" + std::to_string(e.total));
  }
  return out;
}

TEST(Hottest, SelfIsTheLeafAndTotalCountsEachSampleOnce) {
  TestProfile t;
  t.add({"main", "a", "b", "a"}, 3);  // recursion: a appears twice
  t.add({"main", "a"}, 2);
  t.add({"main", "c"}, 1);
  const Hottest h = query(t.p);
  EXPECT_EQ(h.total, 6);
  EXPECT_EQ(h.samples, 3u);
  EXPECT_EQ(rows(h), (std::vector<std::string>{"a 5/5", "c 1/1", "main 0/6", "b 0/3"}));
}

TEST(Hottest, InlinedFunctionsAreEntriesOfTheirOwn) {
  TestProfile t;
  const auto leaf = t.inlined({"inner", "middle", "outer"});
  t.add_locations({t.frame("main"), leaf}, 4);
  const Hottest h = query(t.p, {.sort = SortBy::total});
  ASSERT_NE(find(h, "inner (inlined)"), nullptr);
  EXPECT_EQ(find(h, "inner (inlined)")->self, 4);
  ASSERT_NE(find(h, "middle (inlined)"), nullptr);
  EXPECT_EQ(find(h, "middle (inlined)")->self, 0);
  EXPECT_EQ(find(h, "middle (inlined)")->total, 4);
  ASSERT_NE(find(h, "outer"), nullptr);
  EXPECT_EQ(find(h, "outer")->total, 4);
  EXPECT_EQ(find(h, "main")->total, 4);
  EXPECT_EQ(find(h, "inner"), nullptr) << "only the last line of a location is out of line";
}

TEST(Hottest, InlinedAndOutOfLineCopiesOfAFunctionAreSeparateRows) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.inlined({"helper", "work"})}, 3);
  t.add_locations({t.frame("main"), t.frame("work"), t.frame("helper")}, 2);
  // One sample reaches helper both ways: each row counts it once.
  t.add_locations({t.frame("main"), t.frame("helper"), t.inlined({"helper", "work"})}, 1);
  EXPECT_EQ(rows(query(t.p)), (std::vector<std::string>{"helper (inlined) 4/4", "helper 2/3",
                                                        "main 0/6", "work 0/6"}));
}

TEST(Hottest, FunctionsWithOneNameAreOneEntry) {
  TestProfile t;
  t.add_locations({t.frame("main", "/bin/a"), t.frame("helper", "/bin/a")}, 2);
  t.add_locations({t.frame("main", "/bin/b"), t.frame("helper", "/lib/b.so")}, 3);
  const Hottest h = query(t.p);
  EXPECT_EQ(rows(h), (std::vector<std::string>{"helper 5/5", "main 0/5"}));
}

TEST(Hottest, ByModuleUsesTheMappingBasename) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.frame("memcpy", "/usr/lib/libc.so.6")}, 5);
  t.add_locations({t.frame("main"), t.frame("memcpy", "/usr/lib/libc.so.6"),
                   t.frame("page_fault", "[kernel.kallsyms]")},
                  2);
  t.add({"main"}, 1);
  const Hottest h = query(t.p, {.by = GroupBy::module});
  EXPECT_EQ(rows(h),
            (std::vector<std::string>{"libc.so.6 5/7", "[kernel.kallsyms] 2/2", "app 1/8"}));
}

TEST(Hottest, ByProcessAndByCpu) {
  TestProfile t;
  t.add({"main"}, 5, {.pid = 10, .tid = 10, .cpu = 1, .comm = "web"});
  t.add({"main"}, 2, {.pid = 10, .tid = 11, .cpu = 0, .comm = "web"});
  t.add({"main"}, 4, {.pid = 20, .tid = 20, .cpu = 1, .comm = "db"});
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::process})),
            (std::vector<std::string>{"web (10) 7/7", "db (20) 4/4"}));
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::cpu})),
            (std::vector<std::string>{"cpu 1 9/9", "cpu 0 2/2"}));
}

TEST(Hottest, SamplesWithoutLabelsAreUnknown) {
  TestProfile t;
  t.p.add_sample({{t.frame("main")}, {3, 30}, {}});
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::process})),
            (std::vector<std::string>{"[unknown] 3/3"}));
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::cpu})), (std::vector<std::string>{"[unknown] 3/3"}));
}

TEST(Hottest, FiltersByPidAndComm) {
  TestProfile t;
  t.add({"main", "serve"}, 5, {.pid = 10, .comm = "web"});
  t.add({"main", "query"}, 4, {.pid = 20, .comm = "db"});
  t.add({"main", "flush"}, 1, {.pid = 30, .comm = "db"});
  EXPECT_EQ(rows(query(t.p, {.filter = {.pids = {20}}})),
            (std::vector<std::string>{"query 4/4", "main 0/4"}));
  EXPECT_EQ(rows(query(t.p, {.filter = {.pids = {10, 30}}})),
            (std::vector<std::string>{"serve 5/5", "flush 1/1", "main 0/6"}));
  EXPECT_EQ(query(t.p, {.filter = {.comm = "db"}}).total, 5);
  EXPECT_EQ(query(t.p, {.filter = {.pids = {30}, .comm = "db"}}).total, 1);
  EXPECT_EQ(query(t.p, {.filter = {.pids = {10}, .comm = "db"}}).samples, 0u);
  const Hottest none = query(t.p, {.filter = {.comm = "not-in-profile"}});
  EXPECT_EQ(none.samples, 0u);
  EXPECT_TRUE(none.entries.empty());
}

TEST(Hottest, TopAndSortOrder) {
  TestProfile t;
  t.add({"main", "a"}, 1);
  t.add({"main", "b", "c"}, 4);
  t.add({"main", "b"}, 2);
  t.add({"main", "d"}, 3);
  const Hottest by_self = query(t.p, {.top = 2});
  EXPECT_EQ(rows(by_self), (std::vector<std::string>{"c 4/4", "d 3/3"}));
  EXPECT_EQ(by_self.distinct, 5u);
  const Hottest by_total = query(t.p, {.sort = SortBy::total, .top = 3});
  EXPECT_EQ(rows(by_total), (std::vector<std::string>{"main 0/10", "b 2/6", "c 4/4"}));
}

TEST(Hottest, TiesAreBrokenByName) {
  TestProfile t;
  for (const char* f : {"zeta", "alpha", "mid"}) t.add({f}, 2);
  EXPECT_EQ(rows(query(t.p)), (std::vector<std::string>{"alpha 2/2", "mid 2/2", "zeta 2/2"}));
}

TEST(Hottest, OtherValueIndexWeighsBySecondValue) {
  TestProfile t;
  t.add({"main"}, 2);
  const Hottest h = query(t.p, {.value_index = 1});
  EXPECT_EQ(h.total, 2 * TestProfile::kPeriod);
  EXPECT_FALSE(hottest(t.p, {.value_index = 2}));
}

// A location whose lines are (function, file, line), innermost first; one per call.
struct At {
  std::string function;
  std::string file;
  std::int64_t line = 0;
};
std::uint64_t location(TestProfile& t, const std::vector<At>& lines) {
  const auto m = t.mapping("/usr/bin/app");
  Location l{m, t.p.mapping(m).start + 0x10 * (t.p.locations().size() + 1), {}};
  for (const At& at : lines) {
    l.lines.push_back({t.p.add_function(at.function, "_Z" + at.function, at.file, 1), at.line});
  }
  return t.p.add_location(std::move(l));
}

TEST(HottestByLine, SelfIsTheInnermostLineAndTotalCountsEachSampleOnce) {
  TestProfile t;
  const auto main_loc = location(t, {{"main", "src/main.cpp", 5}});
  // helper (a.cpp:12) inlined into work (a.cpp:30): one address, two source lines.
  const auto inlined = location(t, {{"helper", "src/a.cpp", 12}, {"work", "src/a.cpp", 30}});
  const auto work = location(t, {{"work", "src/a.cpp", 31}});
  const auto recurse = location(t, {{"work", "src/a.cpp", 40}});
  t.add_locations({main_loc, inlined}, 4);
  t.add_locations({main_loc, work}, 2);
  t.add_locations({main_loc, recurse, recurse, work}, 1);  // a.cpp:40 twice: counted once
  const Hottest h = query(t.p, {.by = GroupBy::line});
  EXPECT_EQ(h.total, 7);
  EXPECT_EQ(rows(h), (std::vector<std::string>{"src/a.cpp:12 helper (inlined) 4/4",
                                               "src/a.cpp:31 work 3/3", "src/main.cpp:5 main 0/7",
                                               "src/a.cpp:30 work 0/4", "src/a.cpp:40 work 0/1"}));
  EXPECT_EQ(
      rows(query(t.p, {.by = GroupBy::line, .sort = SortBy::total, .top = 2})),
      (std::vector<std::string>{"src/main.cpp:5 main 0/7", "src/a.cpp:12 helper (inlined) 4/4"}));
}

TEST(HottestByLine, AddressesOnOneLineAreOneRowAndFilesKeepTheirPath) {
  TestProfile t;
  const auto main_loc = location(t, {{"main", "src/main.cpp", 5}});
  t.add_locations({main_loc, location(t, {{"parse", "src/a/util.cpp", 7}})}, 2);
  t.add_locations({main_loc, location(t, {{"parse", "src/a/util.cpp", 7}})}, 3);
  t.add_locations({main_loc, location(t, {{"parse", "src/b/util.cpp", 7}})}, 1);
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::line})),
            (std::vector<std::string>{"src/a/util.cpp:7 parse 5/5", "src/b/util.cpp:7 parse 1/1",
                                      "src/main.cpp:5 main 0/6"}));
}

TEST(HottestByLine, FramesWithoutLinesAreNamedByFunctionOrAddress) {
  TestProfile t;
  const auto main_loc = location(t, {{"main", "src/main.cpp", 5}});
  t.add_locations({main_loc, location(t, {{"no_file", "", 9}})}, 4);
  t.add_locations({main_loc, location(t, {{"no_line", "src/a.cpp", 0}})}, 3);
  t.add_locations({main_loc, location(t, {{"inl", "", 0}, {"no_line", "src/a.cpp", 0}})}, 2);
  const auto m = t.mapping("/usr/lib/libfoo.so");
  t.add_locations({main_loc, t.p.add_location({m, t.p.mapping(m).start + 0x1234, {}})}, 1);
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::line})),
            (std::vector<std::string>{"no_file (no line info) 4/4", "no_line (no line info) 3/5",
                                      "inl (inlined) (no line info) 2/2", "libfoo.so+0x1234 1/1",
                                      "src/main.cpp:5 main 0/10"}));
}

TEST(HottestByLine, FiltersApplyAsByFunction) {
  TestProfile t;
  const auto main_loc = location(t, {{"main", "src/main.cpp", 5}});
  t.add_locations({main_loc, location(t, {{"serve", "src/web.cpp", 20}})}, 5, {.pid = 10});
  t.add_locations({main_loc, location(t, {{"query", "src/db.cpp", 8}})}, 4, {.pid = 20});
  EXPECT_EQ(rows(query(t.p, {.by = GroupBy::line, .filter = {.pids = {20}}})),
            (std::vector<std::string>{"src/db.cpp:8 query 4/4", "src/main.cpp:5 main 0/4"}));
}

TEST(Hottest, UnsymbolizedLocationsAreNamedByFileOffset) {
  TestProfile t;
  const auto m = t.mapping("/usr/lib/libfoo.so");
  const auto lib = t.p.add_location({m, t.p.mapping(m).start + 0x1234, {}});
  const auto bare = t.p.add_location({0, 0x7f0000001000, {}});
  t.add_locations({t.frame("main"), lib}, 1);
  t.add_locations({t.frame("main"), bare}, 1);
  EXPECT_EQ(rows(query(t.p)),
            (std::vector<std::string>{"0x7f0000001000 1/1", "libfoo.so+0x1234 1/1", "main 0/2"}));
}

TEST(Hottest, EmptyStacksCountInTheTotalOnly) {
  TestProfile t;
  t.add_locations({}, 3);
  t.add({"main"}, 1);
  const Hottest h = query(t.p);
  EXPECT_EQ(h.total, 4);
  EXPECT_EQ(rows(h), (std::vector<std::string>{"main 1/1"}));
}

TEST(Totals, SumsEveryValueOfMatchingSamples) {
  TestProfile t;
  t.add({"main"}, 2, {.pid = 1});
  t.add({"main"}, 3, {.pid = 2});
  const Totals all = totals(t.p);
  EXPECT_EQ(all.samples, 2u);
  EXPECT_EQ(all.values, (std::vector<std::int64_t>{5, 5 * TestProfile::kPeriod}));
  EXPECT_EQ(totals(t.p, {.pids = {2}}).values[0], 3);
}

TEST(Totals, LostSamplesComeFromComments) {
  TestProfile t;
  EXPECT_EQ(lost_samples(t.p), 0);
  t.p.add_comment("perfscope: lost 3 samples");
  t.p.add_comment("perfscope: lost 1 sample");
  t.p.add_comment("perfscope: lost many samples");
  t.p.add_comment("someone else: lost 100 samples");
  EXPECT_EQ(lost_samples(t.p), 4);
}

TEST(Parse, GroupAndSortNames) {
  EXPECT_EQ(*parse_group_by("module"), GroupBy::module);
  EXPECT_EQ(*parse_group_by("line"), GroupBy::line);
  EXPECT_EQ(*parse_group_by("cpu"), GroupBy::cpu);
  EXPECT_EQ(*parse_sort_by("total"), SortBy::total);
  const auto bad = parse_group_by("thread");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "cannot group by 'thread'");
  EXPECT_NE(bad.error().hint.find("function, line, module, process, cpu"), std::string::npos);
  EXPECT_FALSE(parse_sort_by("Self"));
}

TEST(Names, KernelMappingsAndPrintableNames) {
  TestProfile t;
  EXPECT_TRUE(is_kernel_mapping(t.p, t.mapping("[kernel.kallsyms]")));
  EXPECT_TRUE(is_kernel_mapping(t.p, t.mapping("[nf_tables]")));
  EXPECT_FALSE(is_kernel_mapping(t.p, t.mapping("[vdso]")));
  EXPECT_FALSE(is_kernel_mapping(t.p, t.mapping("[anon:jit]")));
  EXPECT_FALSE(is_kernel_mapping(t.p, t.mapping("/usr/lib/libc.so.6")));
  EXPECT_FALSE(is_kernel_mapping(t.p, 0));
  EXPECT_EQ(printable("a\nb\tc"), "a b c");
  EXPECT_EQ(basename("/usr/lib/libc.so.6"), "libc.so.6");
  EXPECT_EQ(basename("[kernel.kallsyms]"), "[kernel.kallsyms]");
}

// `report --annotate spin` picks the one function called exactly spin (whatever its scope and
// parameters) over others whose names only contain it, such as the kernel's spinlocks.
TEST(Annotate, AnExactNameWinsOverNamesContainingIt) {
  TestProfile t;
  t.add({"main", "ns::spin(unsigned long, unsigned long)"}, 5);
  t.add({"main", "_raw_spin_rq_lock_irqsave"}, 1);
  t.add({"main", "std::vector<int>::push_back(int const&)"}, 2);
  t.add({"main", "spinner<spin>::run() const"}, 1);
  auto a = annotate(t.p, "spin", 0);
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_EQ(a->function, "ns::spin(unsigned long, unsigned long)");
  EXPECT_EQ(a->total, 5);
  auto b = annotate(t.p, "push_back", 0);
  ASSERT_TRUE(b) << b.error().describe();
  EXPECT_EQ(b->function, "std::vector<int>::push_back(int const&)");
  t.add({"main", "(anonymous namespace)::parse(char const*)"}, 3);
  t.add({"main", "parser_state::reset()"}, 1);
  auto d = annotate(t.p, "parse", 0);
  ASSERT_TRUE(d) << d.error().describe();
  EXPECT_EQ(d->function, "(anonymous namespace)::parse(char const*)");
  t.add({"main", "void burn<int>(int)"}, 2);
  t.add({"main", "burner::run()"}, 1);
  auto e = annotate(t.p, "burn", 0);
  ASSERT_TRUE(e) << e.error().describe();
  EXPECT_EQ(e->function, "void burn<int>(int)");
  // Two functions containing "_spin" and none called that: still ambiguous.
  t.add({"main", "_raw_spin_lock"}, 1);
  auto c = annotate(t.p, "_spin", 0);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().describe().find("matches several functions"), std::string::npos);
}

}  // namespace
}  // namespace perfscope::profile
