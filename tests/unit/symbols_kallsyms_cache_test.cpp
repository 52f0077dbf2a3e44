// The kallsyms cache (symbols/kallsyms_cache.hpp): a hit gives the table a fresh read gives, a
// changed identity rebuilds it, damaged files are ignored, and a reader the kernel hides
// addresses from never gets them from a cache (checked as user nobody on this machine's kernel).
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "symbols/kallsyms.hpp"
#include "symbols/kallsyms_cache.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81001000 T do_one\n"
    "ffffffff81001100 t local_two\n"
    "ffffffff81001900 W weak_three\n"
    "ffffffff81003000 T _etext\n"
    "ffffffffc0001000 t mod_fn_a\t[nf_tables]\n"
    "ffffffffc0001200 T mod_fn_b\t[nf_tables]\n";
constexpr const char* kModules = "nf_tables 8192 0 - Live 0xffffffffc0001000\n";
// /sys/kernel/notes: one GNU build-id note (namesz 4, descsz 4, type 3).
const std::string kNotes("\x04\0\0\0\x04\0\0\0\x03\0\0\0GNU\0\xde\xad\xbe\xef", 20);

using testing::slurp;
using testing::spit;

class KallsymsCache : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    write_file("proc/kallsyms", kKallsyms);
    write_file("proc/modules", kModules);
    write_file("proc/boot_id", "11111111-2222-3333-4444-555555555555\n");
    write_file("sys/notes", kNotes);
    options_ = {.dir = path("cache/perfscope/kallsyms"),
                .kallsyms_path = path("proc/kallsyms"),
                .modules_path = path("proc/modules"),
                .notes_path = path("sys/notes"),
                .boot_id_path = path("proc/boot_id")};
  }

  KernelSymbols load(KallsymsSource expected) {
    KallsymsSource source{};
    auto loaded = load_kernel_symbols(options_, &source);
    EXPECT_TRUE(loaded.has_value());
    EXPECT_EQ(static_cast<int>(source), static_cast<int>(expected));
    return loaded ? std::move(*loaded) : KernelSymbols{};
  }

  std::string cache_file() {
    auto id = kernel_identity(options_);
    EXPECT_TRUE(id.has_value());
    return id ? kallsyms_cache_file(options_.dir, *id) : std::string();
  }

  KallsymsCacheOptions options_;
};

TEST_F(KallsymsCache, IdentityReadsBuildIdBootIdAndFirstLine) {
  const auto id = kernel_identity(options_);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->build_id, "deadbeef");
  EXPECT_EQ(id->boot_id, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(id->first_line, "ffffffff81000000 T _stext");
  EXPECT_EQ(id->uid, ::geteuid());
  EXPECT_FALSE(id->addresses_hidden);
}

TEST_F(KallsymsCache, HitGivesTheTableOfAFreshRead) {
  const auto fresh = KernelSymbols::parse(kKallsyms, kModules);
  const auto first = load(KallsymsSource::kallsyms);
  EXPECT_TRUE(first == fresh);
  const std::string file = cache_file();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(options_.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // The cache answers even when kallsyms itself is gone past its first line.
  write_file("proc/kallsyms", "ffffffff81000000 T _stext\n");
  const auto second = load(KallsymsSource::cache);
  EXPECT_TRUE(second == fresh);
  for (const std::uint64_t a : {0xffffffff81000010ULL, 0xffffffff81001050ULL, 0xffffffff81002000ULL,
                                0xffffffffc0001210ULL}) {
    const auto x = fresh.find(a), y = second.find(a);
    ASSERT_EQ(x.has_value(), y.has_value()) << std::hex << a;
    if (x) {
      EXPECT_EQ(x->name, y->name);
      EXPECT_EQ(x->module, y->module);
      EXPECT_EQ(x->start, y->start);
    }
  }
  EXPECT_EQ(second.find(0xffffffffc0001210ULL)->module, "nf_tables");
}

TEST_F(KallsymsCache, StaleIdentityRebuilds) {
  load(KallsymsSource::kallsyms);
  load(KallsymsSource::cache);
  const std::string old_file = cache_file();

  // Another boot: the table is read again and the old boot's file removed.
  write_file("proc/boot_id", "99999999-2222-3333-4444-555555555555\n");
  write_file("proc/kallsyms", std::string(kKallsyms) + "ffffffff81002000 T added_fn\n");
  const auto rebuilt = load(KallsymsSource::kallsyms);
  EXPECT_EQ(rebuilt.find(0xffffffff81002010ULL)->name, "added_fn");
  EXPECT_FALSE(std::filesystem::exists(old_file));
  EXPECT_EQ(load(KallsymsSource::cache).find(0xffffffff81002010ULL)->name, "added_fn");

  // A module loaded: /proc/modules changes.
  write_file("proc/modules", std::string(kModules) + "e1000 4096 1 - Live 0xffffffffc0005000\n");
  write_file("proc/kallsyms", std::string(kKallsyms) + "ffffffffc0005000 t e1000_fn\t[e1000]\n");
  EXPECT_EQ(load(KallsymsSource::kallsyms).find(0xffffffffc0005010ULL)->module, "e1000");

  // Another kernel build.
  std::string notes = kNotes;
  notes[16] = '\x01';
  write_file("sys/notes", notes);
  load(KallsymsSource::kallsyms);

  // A new KASLR offset shows in the first line even with every other part unchanged.
  write_file("proc/kallsyms", "ffffffff91000000 T _stext\nffffffff91001000 T do_one\n");
  EXPECT_EQ(load(KallsymsSource::kallsyms).find(0xffffffff91001010ULL)->name, "do_one");
}

TEST_F(KallsymsCache, DamagedFilesAreIgnored) {
  const auto fresh = KernelSymbols::parse(kKallsyms, kModules);
  load(KallsymsSource::kallsyms);
  const std::string file = cache_file();
  const std::string good = slurp(file);
  ASSERT_GT(good.size(), 64u);

  const auto expect_ignored = [&](const std::string& bytes, const char* what) {
    spit(file, bytes);
    ::chmod(file.c_str(), 0600);
    KallsymsSource source{};
    auto loaded = load_kernel_symbols(options_, &source);
    ASSERT_TRUE(loaded.has_value()) << what;
    EXPECT_EQ(static_cast<int>(source), static_cast<int>(KallsymsSource::kallsyms)) << what;
    EXPECT_TRUE(*loaded == fresh) << what;
    EXPECT_EQ(slurp(file), good) << what << ": rewritten";
  };
  // Every truncation, and every single byte flipped.
  for (std::size_t n = 0; n < good.size(); n += (n < 200 ? 1 : 37)) {
    expect_ignored(good.substr(0, n), "truncated");
  }
  for (std::size_t i = 0; i < good.size(); i += (i < 200 ? 1 : 29)) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    expect_ignored(bad, "flipped");
  }
  expect_ignored(good + "x", "longer");
  expect_ignored(std::string(1 << 16, '\xff'), "noise");
}

TEST_F(KallsymsCache, FromBytesRefusesATableWhoseChecksumsWereRedone) {
  // A hostile file can carry a valid checksum: the table's own checks still hold.
  const auto fresh = KernelSymbols::parse(kKallsyms, kModules);
  const std::string bytes = fresh.to_bytes();
  ASSERT_TRUE(KernelSymbols::from_bytes(bytes).has_value());
  EXPECT_TRUE(*KernelSymbols::from_bytes(bytes) == fresh);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(KernelSymbols::from_bytes(bytes.substr(0, n)).has_value()) << n;
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (const int x : {0x01, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ x);
      if (auto t = KernelSymbols::from_bytes(bad)) {
        // What passes is a well-formed table: every lookup stays inside it.
        for (std::uint64_t a = 0xffffffff80fff000ULL; a < 0xffffffff81004000ULL; a += 0x80) {
          if (auto hit = t->find(a)) {
            EXPECT_LE(hit->start, a);
          }
        }
        t->text_range("");
        t->text_range("nf_tables");
      }
    }
  }
}

TEST_F(KallsymsCache, FilesNotPrivateToTheReaderAreIgnored) {
  load(KallsymsSource::kallsyms);
  const std::string file = cache_file();
  ::chmod(file.c_str(), 0644);
  load(KallsymsSource::kallsyms);  // ignored, then rewritten private
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  load(KallsymsSource::cache);
  // A symbolic link in its place is not followed.
  const std::string elsewhere = path("elsewhere.bin");
  std::filesystem::rename(file, elsewhere);
  std::filesystem::create_symlink(elsewhere, file);
  load(KallsymsSource::kallsyms);
}

TEST_F(KallsymsCache, HiddenAddressesAreNeitherCachedNorServed) {
  load(KallsymsSource::kallsyms);
  const std::string visible_file = cache_file();
  // The same kernel, now read by someone it hides addresses from (kptr_restrict): no address
  // comes back, although a cache of the visible table exists.
  write_file("proc/kallsyms",
             "0000000000000000 T _stext\n0000000000000000 T _text\n0000000000000000 T do_one\n");
  const auto hidden = load(KallsymsSource::hidden);
  EXPECT_TRUE(hidden.addresses_hidden());
  EXPECT_FALSE(hidden.find(0xffffffff81001010ULL).has_value());
  // Even a file forged for this identity (checksum redone) is not read for a hidden reader.
  auto id = kernel_identity(options_);
  ASSERT_TRUE(id && id->addresses_hidden);
  EXPECT_FALSE(read_kallsyms_cache(visible_file, *id).has_value());
  EXPECT_FALSE(write_kallsyms_cache(kallsyms_cache_file(options_.dir, *id), *id,
                                    KernelSymbols::parse(kKallsyms, kModules)));
}

// The fuzz target's seeds (fuzz/corpus/kallsyms_cache/) are files it accepts: a change of the
// layout must write them again, or the fuzzer starts from nothing.
TEST(KallsymsCacheSeeds, AreAccepted) {
  const std::string dir = std::string(PERFSCOPE_TEST_DATA) + "/../../fuzz/corpus/kallsyms_cache/";
  const auto table = KernelSymbols::from_bytes(slurp(dir + "table.bin"));
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->find(0xffffffff81001010ULL)->name, "do_one");
  if (::geteuid() != 0) GTEST_SKIP() << "cache_root.bin was written for uid 0";
  char pattern[] = "/tmp/perfscope-kallsyms-seed-XXXXXX";
  const int fd = ::mkstemp(pattern);
  ASSERT_GE(fd, 0);
  ::close(fd);
  spit(pattern, slurp(dir + "cache_root.bin"));
  KernelIdentity id{.build_id = "deadbeef",
                    .boot_id = "11111111-2222-3333-4444-555555555555",
                    .modules_hash = 0,
                    .uid = 0,
                    .first_line = "ffffffff81000000 T _stext"};
  const auto cached = read_kallsyms_cache(pattern, id);
  ::unlink(pattern);
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(*cached == *table);
}

// On this machine's kernel: a cache root wrote, handed to nobody (owned by nobody, with nobody's
// uid in it, so that only the kernel's first line can tell), gives nobody no address the kernel
// hides from nobody.
TEST(KallsymsCacheAsNobody, RootsCacheGivesNobodyNoHiddenAddress) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to write root's cache and become nobody";
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  if (!std::filesystem::exists("/proc/kallsyms")) GTEST_SKIP() << "no /proc/kallsyms";
  char pattern[] = "/tmp/perfscope-kallsyms-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  KallsymsCacheOptions root_options{.dir = dir + "/root"};
  KallsymsSource source{};
  auto root_table = load_kernel_symbols(root_options, &source);
  ASSERT_TRUE(root_table.has_value());
  if (root_table->addresses_hidden()) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "the kernel hides kallsyms addresses from root here";
  }
  auto root_id = kernel_identity(root_options);
  ASSERT_TRUE(root_id.has_value());

  // The forged file: root's table under nobody's uid, in a directory nobody owns.
  const std::string nobody_dir = dir + "/nobody";
  KernelIdentity forged = *root_id;
  forged.uid = nobody->pw_uid;
  const std::string forged_file = kallsyms_cache_file(nobody_dir, forged);
  ASSERT_TRUE(write_kallsyms_cache(forged_file, forged, *root_table));
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  ASSERT_EQ(::chown(nobody_dir.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  ASSERT_EQ(::chown(forged_file.c_str(), nobody->pw_uid, nobody->pw_gid), 0);

  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    // 0: nobody sees addresses (nothing to leak); 1: hidden and nothing served; 2: a leak;
    // 3: setup failed.
    char verdict = 3;
    if (::setgid(nobody->pw_gid) == 0 && ::setuid(nobody->pw_uid) == 0) {
      KallsymsCacheOptions options{.dir = nobody_dir};
      auto id = kernel_identity(options);
      KallsymsSource s{};
      auto table = load_kernel_symbols(options, &s);
      if (id && table) {
        if (!id->addresses_hidden) {
          verdict = 0;
        } else {
          verdict = table->addresses_hidden() && s == KallsymsSource::hidden ? 1 : 2;
        }
      }
    }
    [[maybe_unused]] auto n = ::write(pipe_fds[1], &verdict, 1);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  char verdict = 3;
  ASSERT_EQ(::read(pipe_fds[0], &verdict, 1), 1);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::filesystem::remove_all(dir);
  ASSERT_NE(verdict, 3) << "the child could not become nobody or read its kernel identity";
  EXPECT_NE(verdict, 2) << "root's kernel addresses were served to nobody from a cache";
  if (verdict == 0) {
    GTEST_SKIP() << "nobody sees kallsyms addresses here (kptr_restrict 0, perf_event_paranoid "
                    "<= 1): nothing to hide";
  }
}

}  // namespace
}  // namespace perfscope::symbols
