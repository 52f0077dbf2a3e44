// The eBPF unwinder's cache of compiled tables (bpf/unwind_cache.hpp):
// a table written is read back equal for the same version of the same ELF file; another version of
// the file (touched), a damaged, truncated, non-private, symlinked or foreign-owned cache file, and
// a file whose name holds another identity are not used.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "bpf/unwind_cache.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::bpf {
namespace {

using testing::slurp;
using testing::spit;

bool same_table(const unwind_cache::Table& a, const unwind_cache::Table& b) {
  if (a.rows.size() != b.rows.size() || a.segments.size() != b.segments.size()) return false;
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    const auto &x = a.rows[i], &y = b.rows[i];
    if (x.pc != y.pc || x.cfa8 != y.cfa8 || x.kinds != y.kinds || x.rbp8 != y.rbp8) return false;
  }
  for (std::size_t i = 0; i < a.segments.size(); ++i) {
    const auto &x = a.segments[i], &y = b.segments[i];
    if (x.offset != y.offset || x.vaddr != y.vaddr || x.filesz != y.filesz || x.memsz != y.memsz ||
        x.executable != y.executable) {
      return false;
    }
  }
  return true;
}

class UnwindCache : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    // The ELF file the table belongs to: a copy, so the test can change its version.
    elf_ = path("prog");
    std::filesystem::copy_file("/bin/true", elf_);
    dir_ = path("cache/perfscope/unwind");
    for (std::uint32_t i = 0; i < 5000; ++i) {
      table_.rows.push_back(ps_kernel_row{0x1000 + i * 16, static_cast<ps_s16>(1 + i % 7),
                                          static_cast<ps_u8>(i % 3), static_cast<ps_s8>(-2)});
    }
    table_.segments = {{0, 0, 0x1000, 0x1000, false}, {0x1000, 0x1000, 0x4000, 0x4000, true}};
  }

  // The one cache file written into dir_.
  std::string the_file() const {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) files.push_back(e.path());
    EXPECT_EQ(files.size(), 1U);
    return files.empty() ? std::string() : files.front();
  }

  std::string elf_, dir_;
  unwind_cache::Table table_;
};

TEST_F(UnwindCache, WhatIsWrittenIsReadBackAndTheFileIsPrivate) {
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
  ASSERT_TRUE(unwind_cache::write(dir_, elf_, table_));
  const auto back = unwind_cache::read(dir_, elf_);
  ASSERT_TRUE(back);
  EXPECT_TRUE(same_table(*back, table_));
  struct stat st {};
  ASSERT_EQ(::stat(the_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0U);
  // No cache directory: nothing read, nothing written.
  EXPECT_FALSE(unwind_cache::read("", elf_));
  EXPECT_FALSE(unwind_cache::write("", elf_, table_));
}

TEST_F(UnwindCache, AnotherVersionOfTheFileIsAMiss) {
  ASSERT_TRUE(unwind_cache::write(dir_, elf_, table_));
  const auto later = std::filesystem::last_write_time(elf_) + std::chrono::seconds(5);
  std::filesystem::last_write_time(elf_, later);
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
  // The same bytes under another path are another file too.
  const std::string other = path("other");
  std::filesystem::copy_file(elf_, other);
  EXPECT_FALSE(unwind_cache::read(dir_, other));
}

TEST_F(UnwindCache, DamagedTruncatedAndUnsafeFilesAreIgnored) {
  ASSERT_TRUE(unwind_cache::write(dir_, elf_, table_));
  const std::string file = the_file();
  const std::string good = slurp(file);
  // Every truncation (a sample of lengths) and a flipped byte at several places.
  for (std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{23}, std::size_t{24},
                        std::size_t{40}, good.size() / 2, good.size() - 1}) {
    spit(file, good.substr(0, n));
    EXPECT_FALSE(unwind_cache::read(dir_, elf_)) << n << " bytes";
  }
  for (std::size_t at :
       {std::size_t{1}, std::size_t{10}, std::size_t{30}, good.size() / 3, good.size() - 1}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x40);
    spit(file, bad);
    EXPECT_FALSE(unwind_cache::read(dir_, elf_)) << "byte " << at;
  }
  spit(file, good);
  ASSERT_TRUE(unwind_cache::read(dir_, elf_));
  // Readable by others: not ours alone, so not used.
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  // A symbolic link in its place is not followed.
  const std::string real = path("real.rows");
  std::filesystem::rename(file, real);
  std::filesystem::create_symlink(real, file);
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
  std::filesystem::remove(file);
  std::filesystem::rename(real, file);
  ASSERT_TRUE(unwind_cache::read(dir_, elf_));
  // Owned by someone else (as root: handed to nobody).
  if (::geteuid() == 0) {
    if (const passwd* nobody = ::getpwnam("nobody")) {
      ASSERT_EQ(::chown(file.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
      EXPECT_FALSE(unwind_cache::read(dir_, elf_));
    }
  }
}

TEST_F(UnwindCache, AFileHoldingAnotherIdentityIsNotUsed) {
  // The table of another file, renamed to the name this file's table would have: its body names
  // the other file, so it is not taken.
  const std::string other = path("other");
  std::filesystem::copy_file(elf_, other);
  ASSERT_TRUE(unwind_cache::write(dir_, other, table_));
  const std::string foreign = the_file();
  ASSERT_TRUE(unwind_cache::write(dir_, elf_, table_));
  std::string mine;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path() != foreign) mine = e.path();
  }
  ASSERT_FALSE(mine.empty());
  std::filesystem::rename(foreign, mine);
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
  // The parser alone: the identity must match exactly.
  EXPECT_FALSE(unwind_cache::parse(slurp(mine), ""));
  EXPECT_FALSE(unwind_cache::parse(slurp(mine), elf_));
}

TEST_F(UnwindCache, RowsOutOfOrderAreNotUsed) {
  std::swap(table_.rows[10], table_.rows[11]);
  ASSERT_TRUE(unwind_cache::write(dir_, elf_, table_));
  EXPECT_FALSE(unwind_cache::read(dir_, elf_));
}

}  // namespace
}  // namespace perfscope::bpf
