// PerfMap parsing and Symbolizer::resolve_jit on a perf-PID.map the test writes.
#include <gtest/gtest.h>

#include "symbols/perf_map.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kMap =
    "7f0000001000 40 jitted_a\n"
    "0x7f0000002000 0x20 LazyCompile:*foo /app/main.js:10\n"
    "garbage line\n"
    "7f0000003000 zz bad_size\n"
    "7f0000004000 10 _ZN2ns3fooEv\n"
    "7f0000001000 80 jitted_a_recompiled\r\n"
    "\n";

TEST(SymbolsPerfMap, ParsesEntriesAndSkipsMalformedLines) {
  const auto map = PerfMap::parse(kMap);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.malformed_lines(), 2u);
  const auto* js = map.find(0x7f000000201f);
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->name, "LazyCompile:*foo /app/main.js:10") << "names keep their spaces";
  EXPECT_EQ(js->start, 0x7f0000002000u);
  EXPECT_EQ(js->size, 0x20u);
  EXPECT_EQ(map.find(0x7f0000002020), nullptr) << "size is exclusive";
  EXPECT_EQ(map.find(0x7f0000000fff), nullptr);
}

TEST(SymbolsPerfMap, LaterEntryForTheSameStartWins) {
  const auto map = PerfMap::parse(kMap);
  const auto* e = map.find(0x7f0000001070);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "jitted_a_recompiled");
}

class SymbolsJitResolve : public testing::TempDirTest {};

TEST_F(SymbolsJitResolve, ResolvesThroughThePidsMap) {
  write_file("perf-4242.map", kMap);
  Symbolizer s(SymbolizerOptions{.perf_map_dir = root()});
  const std::string module = "[jit] " + path("perf-4242.map");

  const auto& a = s.resolve_jit(4242, 0x7f0000001004);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].function, "jitted_a_recompiled");
  EXPECT_EQ(a[0].module, module);
  EXPECT_TRUE(a[0].resolved);
  EXPECT_EQ(a[0].module_offset, 0x7f0000001004u);

  const auto& cxx = s.resolve_jit(4242, 0x7f0000004008);
  ASSERT_EQ(cxx.size(), 1u);
  EXPECT_EQ(cxx[0].function, "ns::foo()");

  const auto& miss = s.resolve_jit(4242, 0x7f0000009000);
  ASSERT_EQ(miss.size(), 1u);
  EXPECT_EQ(miss[0].function, "[unknown: not in " + path("perf-4242.map") + "]");
  EXPECT_EQ(miss[0].module, module);
  EXPECT_FALSE(miss[0].resolved);

  EXPECT_EQ(&s.resolve_jit(4242, 0x7f0000001004), &a);
  EXPECT_EQ(s.stats().addresses_resolved, 2u);
  EXPECT_EQ(s.stats().addresses_unknown, 1u);
}

TEST_F(SymbolsJitResolve, MissingMapGivesTheReason) {
  Symbolizer s(SymbolizerOptions{.perf_map_dir = root()});
  const auto& f = s.resolve_jit(4243, 0x1000);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function,
            "[unknown: cannot read " + path("perf-4243.map") + ": No such file or directory]");
  EXPECT_EQ(f[0].module, "[jit] " + path("perf-4243.map"));
  // Written after the first look: the map was read once per pid, so it stays unknown.
  write_file("perf-4243.map", "1000 10 late\n");
  EXPECT_FALSE(s.resolve_jit(4243, 0x1004)[0].resolved);
}

}  // namespace
}  // namespace perfscope::symbols
