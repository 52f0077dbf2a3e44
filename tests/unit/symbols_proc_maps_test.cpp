// parse_proc_maps: executable file mappings only, deleted files and other roots get an open_path.
#include <gtest/gtest.h>
#include <unistd.h>

#include "symbols/proc_maps.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kMaps =
    "55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234   /usr/bin/app\n"
    "55d0c0a02000-55d0c0a08000 r-xp 00002000 fd:01 1234   /usr/bin/app\n"
    "7f5e1c028000-7f5e1c1bd000 r-xp 00028000 fd:01 5678   /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "7f5e1c300000-7f5e1c301000 r-xp 00001000 fd:01 91011  /tmp/my lib.so (deleted)\n"
    "7f5e1c400000-7f5e1c500000 rwxp 00000000 00:00 0 \n"
    "7ffd5a1f0000-7ffd5a1f2000 r-xp 00000000 00:00 0      [vdso]\n";

TEST(SymbolsProcMaps, KeepsExecutableFileMappings) {
  const auto maps = parse_proc_maps(kMaps, 77);
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].path, "/usr/bin/app");
  EXPECT_EQ(maps[0].start, 0x55d0c0a02000u);
  EXPECT_EQ(maps[0].end, 0x55d0c0a08000u);
  EXPECT_EQ(maps[0].pgoff, 0x2000u);
  EXPECT_TRUE(maps[0].open_path.empty());
  EXPECT_TRUE(maps[0].build_id.empty());
  EXPECT_EQ(maps[1].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(maps[1].pgoff, 0x28000u);
  EXPECT_EQ(maps[2].path, "/tmp/my lib.so");
  EXPECT_EQ(maps[2].open_path, "/proc/77/map_files/7f5e1c300000-7f5e1c301000");
}

TEST(SymbolsProcMaps, OtherRootOpensThroughProcRoot) {
  const auto maps = parse_proc_maps(kMaps, 77, true);
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[1].open_path, "/proc/77/root/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(maps[2].open_path, "/proc/77/map_files/7f5e1c300000-7f5e1c301000");
}

TEST(SymbolsProcMaps, ReadsOwnMaps) {
  const auto maps = read_proc_maps(::getpid());
  ASSERT_TRUE(maps.has_value()) << maps.error().describe();
  ASSERT_FALSE(maps->empty());
  for (const auto& m : *maps) {
    EXPECT_TRUE(m.open_path.empty()) << m.path << ": same root, nothing deleted";
  }
  EXPECT_FALSE(read_proc_maps(-5).has_value());
}

}  // namespace
}  // namespace perfscope::symbols
