// core/files helpers that read links and search PATH, and the vDSO copy symbols/ makes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "core/files.hpp"
#include "symbols/vdso.hpp"

namespace perfscope {
namespace {

TEST(Files, ReadLinkGivesTheTargetOrNothing) {
  const std::string exe = read_link("/proc/self/exe");
  EXPECT_TRUE(exe.ends_with("/unit_tests")) << exe;
  EXPECT_EQ(read_link("/proc/self/status"), "") << "not a link";
  EXPECT_EQ(read_link("/no/such/link"), "");
}

TEST(Files, FindOnPathSearchesLikeExecvp) {
  const std::string sh = find_on_path("sh");
  ASSERT_FALSE(sh.empty());
  EXPECT_EQ(::access(sh.c_str(), X_OK), 0) << sh;
  EXPECT_EQ(find_on_path("./relative/prog"), "./relative/prog") << "a slash means no search";
  EXPECT_EQ(find_on_path("perfscope-no-such-program"), "");
}

TEST(Vdso, OwnCopyIsAnElfImageAndMadeOnce) {
  const std::string& path = symbols::vdso_image_path();
  ASSERT_FALSE(path.empty());
  auto bytes = read_text_file(path);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_TRUE(
      bytes->starts_with("\x7f"
                         "ELF"));
  EXPECT_EQ(&symbols::vdso_image_path(), &path);
}

}  // namespace
}  // namespace perfscope
