// core::OutputFile, the one way perfscope writes a file: atomic replacement of regular files,
// devices written through, write errors reported, and no writing through a symlink another user
// planted in a shared sticky directory (the fs.protected_symlinks rule, enforced by perfscope
// itself because machines may have it off).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/output_file.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"

namespace perfscope {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(OutputFile, ReplacesARegularFileWholeAndLeavesNoTemporary) {
  testing::TempDir dir;
  const auto path = dir.file("out.txt");
  std::ofstream(path) << "old";
  ASSERT_TRUE(write_output_file(path, "new content"));
  EXPECT_EQ(slurp(path), "new content");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(OutputFile, WriteErrorsOnADeviceAreReported) {
  auto full = write_output_file("/dev/full", std::string(1 << 16, 'x'));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().errnum, ENOSPC) << full.error().describe();
}

// Root in a sticky world-writable directory: a symlink owned by another user is refused (its
// target is left alone); one root owns itself is followed.
TEST(OutputFile, RefusesASymlinkAnotherUserPlantedInASharedDirectory) {
  PS_REQUIRE(root());
  testing::TempDir dir;
  const std::string shared = dir.file("shared");
  ASSERT_EQ(::mkdir(shared.c_str(), 01777), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  const std::string victim = dir.file("victim");
  std::ofstream(victim) << "precious";
  const std::string planted = shared + "/perfscope.pb.gz";
  ASSERT_EQ(::symlink(victim.c_str(), planted.c_str()), 0);
  ASSERT_EQ(::lchown(planted.c_str(), 65534, 65534), 0);  // nobody planted it
  auto refused = write_output_file(planted, "overwritten");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("refusing to write"), std::string::npos)
      << refused.error().describe();
  EXPECT_NE(refused.error().hint.find("planted"), std::string::npos);
  EXPECT_EQ(slurp(victim), "precious");

  const std::string own = shared + "/mine.svg";
  ASSERT_EQ(::symlink(victim.c_str(), own.c_str()), 0);  // root's own link: followed
  ASSERT_TRUE(write_output_file(own, "through my link"));
  EXPECT_EQ(slurp(victim), "through my link");

  // A link to a file that does not exist yet creates it.
  const std::string fresh = dir.file("fresh-target");
  const std::string to_fresh = shared + "/fresh.svg";
  ASSERT_EQ(::symlink(fresh.c_str(), to_fresh.c_str()), 0);
  ASSERT_TRUE(write_output_file(to_fresh, "created"));
  EXPECT_EQ(slurp(fresh), "created");

  // Outside a sticky shared directory another user's symlink is followed, as the kernel does.
  const std::string plain = dir.file("plain-link");
  ASSERT_EQ(::symlink(victim.c_str(), plain.c_str()), 0);
  ASSERT_EQ(::lchown(plain.c_str(), 65534, 65534), 0);
  ASSERT_TRUE(write_output_file(plain, "plain"));
  EXPECT_EQ(slurp(victim), "plain");
}

}  // namespace
}  // namespace perfscope
