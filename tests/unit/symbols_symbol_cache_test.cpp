// The symbol cache (symbols/symbol_cache.hpp): a Symbolizer reading libc's addresses through a
// cache gives the frames a fresh lookup gives, on the run that writes the cache and on the runs
// that read it; a valid file is served; truncated, damaged, foreign-owned, non-private and
// other-identity files are ignored (also as user nobody); the environment variable chooses the
// directory or turns the cache off.
#include <dlfcn.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "symbols/elf_module.hpp"
#include "symbols/proc_maps.hpp"
#include "symbols/symbol_cache.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

using testing::slurp;
using testing::spit;

// Every field of a lookup's frames, one line each.
std::string describe(const std::vector<Frame>& frames) {
  std::string out;
  for (const auto& f : frames) {
    out += f.function + " | " + f.module + " | " + f.file + ":" + std::to_string(f.line) + " (" +
           std::to_string(f.start_line) + ") " + (f.inlined ? "inlined " : "") +
           (f.resolved ? "resolved " : "") + std::to_string(f.module_offset) + "\n";
  }
  return out;
}

// libc's executable mapping in this process and addresses in it: function entries, and places
// inside function bodies (where libc6-dbg, when installed, gives inline frames and lines).
struct LibcAddresses {
  MappedFile mapping;
  std::vector<std::uint64_t> addresses;
};

// The functions are looked up in libc itself: under AddressSanitizer `&::malloc` and `&::qsort`
// are the sanitizer's interceptors, in another module.
std::optional<LibcAddresses> libc_addresses() {
  void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (libc == nullptr) return std::nullopt;
  std::vector<std::uintptr_t> functions;
  for (const char* name : {"getpid", "qsort", "strtol", "malloc", "fopen"}) {
    if (void* f = ::dlsym(libc, name)) functions.push_back(reinterpret_cast<std::uintptr_t>(f));
  }
  ::dlclose(libc);
  if (functions.empty()) return std::nullopt;
  auto maps = read_proc_maps(::getpid());
  if (!maps) return std::nullopt;
  for (const auto& m : *maps) {
    if (functions.front() < m.start || functions.front() >= m.end) continue;
    LibcAddresses out{m, {}};
    for (const auto a : functions) {
      if (a < m.start || a + 64 >= m.end) continue;
      for (const std::uint64_t offset : {0, 9, 33, 60}) out.addresses.push_back(a + offset);
    }
    // An address no symbol may cover: the mapping's first bytes.
    out.addresses.push_back(m.start + 1);
    return out;
  }
  return std::nullopt;
}

class SymbolCache : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (program_build_id().empty()) GTEST_SKIP() << "this test binary has no build-id";
    auto libc = libc_addresses();
    if (!libc) GTEST_SKIP() << "libc's mapping not found";
    ASSERT_GE(libc->addresses.size(), 8U) << "libc's functions are outside its mapping";
    libc_ = std::move(*libc);
    dir_ = path("cache/perfscope/symbols");
  }

  // Each address's frames through a Symbolizer of `cache_dir` (empty: no cache), which is then
  // destroyed (writing its cache).
  std::vector<std::string> resolve_all(const std::string& cache_dir) {
    std::vector<std::string> out;
    Symbolizer s({.symbol_cache_dir = cache_dir});
    for (const auto a : libc_.addresses) out.push_back(describe(s.resolve_user(libc_.mapping, a)));
    return out;
  }

  // The key the Symbolizer uses for libc (symbol_cache.hpp), built here from the same facts.
  SymbolCacheKey libc_key() {
    auto module = ElfModule::open(libc_.mapping.path, libc_.mapping.path, {}, {"/usr/lib/debug"});
    EXPECT_TRUE(module.has_value());
    SymbolCacheKey key;
    if (!module) return key;
    key.build_id = (*module)->build_id();
    key.file = file_stamp(libc_.mapping.path).value_or(FileStamp{});
    key.debug_file = (*module)->debug_file();
    if (!key.debug_file.empty()) key.debug = file_stamp(key.debug_file).value_or(FileStamp{});
    key.program_id = program_build_id();
    key.uid = static_cast<std::uint32_t>(::geteuid());
    return key;
  }

  LibcAddresses libc_;
  std::string dir_;
};

TEST_F(SymbolCache, HitEqualsFreshAndTheFileIsPrivate) {
  const auto fresh = resolve_all("");
  const auto writing = resolve_all(dir_);
  EXPECT_EQ(writing, fresh);
  const SymbolCacheKey key = libc_key();
  ASSERT_FALSE(key.build_id.empty()) << "libc has no build-id";
  const std::string file = symbol_cache_file(dir_, key);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << file << " was not written";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const auto cached = read_symbol_cache(file, key);
  ASSERT_TRUE(cached.has_value());
  EXPECT_GE(cached->size(), libc_.addresses.size() - 2);  // return addresses may coincide
  const std::string bytes = slurp(file);
  EXPECT_EQ(resolve_all(dir_), fresh);  // read from the cache
  EXPECT_EQ(slurp(file), bytes) << "a run with nothing new rewrote the cache";
}

TEST_F(SymbolCache, AValidFileIsServed) {
  resolve_all(dir_);
  const SymbolCacheKey key = libc_key();
  const std::string file = symbol_cache_file(dir_, key);
  auto cached = read_symbol_cache(file, key);
  ASSERT_TRUE(cached.has_value());
  // A file this code would write, with one name changed: the Symbolizer must give that name.
  for (auto& [vaddr, frames] : *cached) {
    for (auto& f : frames) f.function = "served_from_cache";
  }
  ASSERT_TRUE(write_symbol_cache(file, key, *cached));
  for (const auto& frames : resolve_all(dir_)) {
    if (frames.starts_with("[unknown")) continue;
    EXPECT_TRUE(frames.starts_with("served_from_cache")) << frames;
  }
}

TEST_F(SymbolCache, DamagedTruncatedAndForeignFilesAreIgnored) {
  const auto fresh = resolve_all("");
  resolve_all(dir_);
  const SymbolCacheKey key = libc_key();
  const std::string file = symbol_cache_file(dir_, key);
  const std::string good = slurp(file);
  ASSERT_GT(good.size(), 100u);
  const auto ignored = [&](const std::string& bytes) {
    spit(file, bytes);
    ::chmod(file.c_str(), 0600);
    return !read_symbol_cache(file, key).has_value();
  };
  for (std::size_t n = 0; n < good.size(); n += (n < 300 ? 1 : 41)) {
    EXPECT_TRUE(ignored(good.substr(0, n))) << "truncated to " << n;
  }
  for (std::size_t i = 0; i < good.size(); i += (i < 300 ? 1 : 23)) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x21);
    EXPECT_TRUE(ignored(bad)) << "byte " << i << " flipped";
  }
  EXPECT_TRUE(ignored(good + "x"));
  EXPECT_TRUE(ignored(std::string(1 << 16, '\xff')));
  EXPECT_FALSE(ignored(good));

  // Through the Symbolizer: a damaged file gives fresh frames and is written again.
  std::string bad = good;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x21);
  spit(file, bad);
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(resolve_all(dir_), fresh);
  EXPECT_EQ(slurp(file), good);

  // Readable by others, or a symbolic link: ignored.
  ::chmod(file.c_str(), 0644);
  EXPECT_FALSE(read_symbol_cache(file, key).has_value());
  ::chmod(file.c_str(), 0600);
  const std::string elsewhere = path("elsewhere.bin");
  std::filesystem::rename(file, elsewhere);
  std::filesystem::create_symlink(elsewhere, file);
  EXPECT_FALSE(read_symbol_cache(file, key).has_value());
  std::filesystem::remove(file);
  std::filesystem::rename(elsewhere, file);
  ASSERT_TRUE(read_symbol_cache(file, key).has_value());

  // Owned by someone else (as root: handed to nobody).
  if (::geteuid() == 0) {
    if (const passwd* nobody = ::getpwnam("nobody")) {
      ASSERT_EQ(::chown(file.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
      EXPECT_FALSE(read_symbol_cache(file, key).has_value());
    }
  }
}

TEST_F(SymbolCache, AnotherIdentityIsIgnored) {
  resolve_all(dir_);
  const SymbolCacheKey key = libc_key();
  const std::string file = symbol_cache_file(dir_, key);
  ASSERT_TRUE(read_symbol_cache(file, key).has_value());
  const auto other = [&](auto change) {
    SymbolCacheKey k = key;
    change(k);
    return !read_symbol_cache(file, k).has_value();
  };
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.program_id += "00"; }));  // another build
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.uid += 1; }));
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.file.mtime_ns += 1; }));
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.debug_file = "/elsewhere.debug"; }));
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.inline_frames = false; }));
  EXPECT_TRUE(other([](SymbolCacheKey& k) { k.line_numbers = false; }));
  // Without a build-id nothing is cached.
  SymbolCacheKey none = key;
  none.build_id.clear();
  EXPECT_FALSE(write_symbol_cache(symbol_cache_file(dir_, none), none, {}));
  // A new identity of the same module replaces the old file.
  SymbolCacheKey newer = key;
  newer.program_id += "00";
  ASSERT_TRUE(write_symbol_cache(symbol_cache_file(dir_, newer), newer, {}));
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(SymbolCacheDir, TheEnvironmentChoosesOrTurnsItOff) {
  const auto saved = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v == nullptr ? std::nullopt : std::optional<std::string>(v);
  };
  const auto cache = saved("PERFSCOPE_SYMBOL_CACHE"), xdg = saved("XDG_CACHE_HOME");
  ::setenv("PERFSCOPE_SYMBOL_CACHE", "off", 1);
  EXPECT_EQ(default_symbol_cache_dir(), "");
  ::setenv("PERFSCOPE_SYMBOL_CACHE", "/somewhere/symbols", 1);
  EXPECT_EQ(default_symbol_cache_dir(), "/somewhere/symbols");
  ::unsetenv("PERFSCOPE_SYMBOL_CACHE");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(default_symbol_cache_dir(), "/xdg/perfscope/symbols");
  const auto restore = [](const char* name, const std::optional<std::string>& v) {
    if (v) {
      ::setenv(name, v->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  };
  restore("PERFSCOPE_SYMBOL_CACHE", cache);
  restore("XDG_CACHE_HOME", xdg);
}

// The fuzz target's seed (fuzz/corpus/symbol_cache/) is a file it accepts: a change of the layout
// must write it again (fuzz/targets/symbol_cache.cpp names its identity), or the fuzzer starts
// from nothing.
TEST(SymbolCacheSeeds, AreAccepted) {
  if (::geteuid() != 0) GTEST_SKIP() << "cache_root.bin was written for uid 0";
  const std::string seed =
      std::string(PERFSCOPE_TEST_DATA) + "/../../fuzz/corpus/symbol_cache/cache_root.bin";
  char pattern[] = "/tmp/perfscope-symbol-seed-XXXXXX";
  const int fd = ::mkstemp(pattern);
  ASSERT_GE(fd, 0);
  ::close(fd);
  spit(pattern, slurp(seed));
  SymbolCacheKey key{.build_id = "0123456789abcdef",
                     .file = {1, 2, 3, 4},
                     .debug_file = "/usr/lib/debug/.build-id/01/23456789abcdef.debug",
                     .debug = {5, 6, 7, 8},
                     .inline_frames = true,
                     .line_numbers = true,
                     .program_id = "fedcba9876543210",
                     .uid = 0};
  const auto cached = read_symbol_cache(pattern, key);
  ::unlink(pattern);
  ASSERT_TRUE(cached.has_value());
  ASSERT_EQ(cached->size(), 3u);
  const auto& chain = cached->at(0x1234);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].function, "inlined_helper()");
  EXPECT_TRUE(chain[0].inlined);
  EXPECT_EQ(chain[1].line, 40u);
  EXPECT_TRUE(cached->at(0x9999).empty());
}

// As user nobody: root's cache file is not read, whether it stays root's (owner) or is handed to
// nobody with root's uid in it (identity); a file nobody wrote is.
TEST(SymbolCacheAsNobody, RootsFilesAreNotRead) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to write root's cache and become nobody";
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  if (program_build_id().empty()) GTEST_SKIP() << "this test binary has no build-id";
  char pattern[] = "/tmp/perfscope-symbol-cache-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  const std::string nobody_dir = dir + "/nobody";
  ASSERT_EQ(::mkdir(nobody_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(nobody_dir.c_str(), nobody->pw_uid, nobody->pw_gid), 0);

  CachedFrames frames;
  Frame f;
  f.function = "roots_function";
  f.resolved = true;
  frames[0x1000].push_back(f);
  SymbolCacheKey key{.build_id = "abcdef0123",
                     .file = {1, 2, 3, 4},
                     .debug_file = {},
                     .debug = {},
                     .inline_frames = true,
                     .line_numbers = true,
                     .program_id = program_build_id(),
                     .uid = 0};
  SymbolCacheKey nobody_key = key;
  nobody_key.uid = nobody->pw_uid;
  // Root's file in nobody's directory under nobody's identity, still owned by root.
  const std::string owned_by_root = symbol_cache_file(nobody_dir, nobody_key);
  ASSERT_TRUE(write_symbol_cache(owned_by_root, nobody_key, frames));
  // Root's identity, handed to nobody.
  key.build_id = "abcdef4567";
  nobody_key.build_id = key.build_id;
  const std::string handed = symbol_cache_file(nobody_dir, nobody_key);
  ASSERT_TRUE(write_symbol_cache(handed, key, frames));
  ASSERT_EQ(::chown(handed.c_str(), nobody->pw_uid, nobody->pw_gid), 0);

  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    // Bit 0: root's own file read; bit 1: the handed file read; bit 2: nobody's own file not
    // read back; 8: setup failed.
    char verdict = 8;
    if (::setgid(nobody->pw_gid) == 0 && ::setuid(nobody->pw_uid) == 0) {
      SymbolCacheKey k = nobody_key;
      k.build_id = "abcdef0123";
      verdict = 0;
      if (read_symbol_cache(owned_by_root, k)) verdict |= 1;
      k.build_id = "abcdef4567";
      if (read_symbol_cache(handed, k)) verdict |= 2;
      k.build_id = "abcdef89ab";
      const std::string own = symbol_cache_file(nobody_dir, k);
      if (!write_symbol_cache(own, k, frames) || !read_symbol_cache(own, k)) verdict |= 4;
    }
    [[maybe_unused]] auto n = ::write(pipe_fds[1], &verdict, 1);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  char verdict = 8;
  ASSERT_EQ(::read(pipe_fds[0], &verdict, 1), 1);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::filesystem::remove_all(dir);
  ASSERT_NE(verdict, 8) << "the child could not become nobody";
  EXPECT_EQ(verdict & 1, 0) << "a file owned by root was read by nobody";
  EXPECT_EQ(verdict & 2, 0) << "a file with root's identity was read by nobody";
  EXPECT_EQ(verdict & 4, 0) << "nobody could not use a cache of its own";
}

}  // namespace
}  // namespace perfscope::symbols
