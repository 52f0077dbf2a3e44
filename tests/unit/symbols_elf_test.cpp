// Symbolizer::resolve_user on real files: this test binary (built with -g), libc (.dynsym, or its
// debug file when installed),
// a hand-made ELF without symbols, and files that cannot be used.
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>

#include "symbols/proc_maps.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

// Functions with known names and lines. Not in an anonymous namespace: the demangled name
// carries the namespace. Line numbers are taken with __LINE__.
namespace perfscope_symbols_test {

constexpr std::uint32_t kTargetFirstLine = __LINE__ + 1;
__attribute__((noinline)) int resolve_me_target(int x) {
  asm volatile("" : "+r"(x));
  return x * 3 + 1;
}
constexpr std::uint32_t kTargetLastLine = __LINE__ - 1;

void* g_return_address = nullptr;

__attribute__((noinline)) void record_return_address() {
  g_return_address = __builtin_return_address(0);
  asm volatile("" ::: "memory");
}

constexpr std::uint32_t kInlinedCallLine = __LINE__ + 2;
__attribute__((always_inline)) inline void inlined_helper() {
  record_return_address();
  asm volatile("" ::: "memory");
}

constexpr std::uint32_t kOuterCallLine = __LINE__ + 2;
__attribute__((noinline)) void outer_with_inlined_helper() {
  inlined_helper();
  asm volatile("" ::: "memory");
}

}  // namespace perfscope_symbols_test

namespace perfscope::symbols {
namespace {

// The mapping of this process that contains `address`.
MappedFile own_mapping(const void* address) {
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  auto maps = read_proc_maps(::getpid());
  EXPECT_TRUE(maps.has_value());
  if (maps) {
    for (const auto& m : *maps) {
      if (a >= m.start && a < m.end) return m;
    }
  }
  ADD_FAILURE() << "no executable file mapping contains " << address;
  return {};
}

MappedFile file_mapping(std::string path, std::uint64_t start, std::uint64_t end,
                        std::uint64_t pgoff = 0) {
  MappedFile m;
  m.path = std::move(path);
  m.start = start;
  m.end = end;
  m.pgoff = pgoff;
  return m;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string describe(const std::vector<Frame>& frames) {
  std::string out;
  for (const auto& f : frames) {
    out += "  " + f.function + " @ " + f.file + ":" + std::to_string(f.line) +
           (f.inlined ? " (inlined)" : "") + " in " + f.module + "\n";
  }
  return out;
}

TEST(SymbolsElf, ResolvesOwnFunctionWithFileAndLine) {
  const void* target = reinterpret_cast<const void*>(&perfscope_symbols_test::resolve_me_target);
  const MappedFile mapping = own_mapping(target);
  ASSERT_FALSE(mapping.path.empty());
  Symbolizer s;
  const auto& frames = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target));
  ASSERT_EQ(frames.size(), 1u) << describe(frames);
  const Frame& f = frames[0];
  EXPECT_EQ(f.function, "perfscope_symbols_test::resolve_me_target(int)");
  EXPECT_EQ(f.module, mapping.path);
  EXPECT_TRUE(ends_with(f.file, "tests/unit/symbols_elf_test.cpp")) << f.file;
  // Optimised code's entry may carry the line of the first statement rather than the signature.
  EXPECT_GE(f.line, perfscope_symbols_test::kTargetFirstLine);
  EXPECT_LE(f.line, perfscope_symbols_test::kTargetLastLine);
  EXPECT_TRUE(f.resolved);
  EXPECT_FALSE(f.inlined);

  // Inside the body, the same function.
  const auto& inside = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target) + 2);
  ASSERT_FALSE(inside.empty());
  EXPECT_EQ(inside.back().function, "perfscope_symbols_test::resolve_me_target(int)");

  // Cached: one load, each address resolved once, same reference back.
  EXPECT_EQ(&s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target)), &frames);
  const auto stats = s.stats();
  EXPECT_EQ(stats.modules_loaded, 1u);
  EXPECT_EQ(stats.modules_without_symbols, 0u);
  EXPECT_EQ(stats.addresses_resolved, 2u);
  EXPECT_EQ(stats.addresses_unknown, 0u);
}

TEST(SymbolsElf, InlinedCallGivesInnermostFrameFirst) {
  perfscope_symbols_test::outer_with_inlined_helper();
  ASSERT_NE(perfscope_symbols_test::g_return_address, nullptr);
  // The return address follows the call; one byte back is inside the call instruction, which
  // belongs to the inlined helper.
  const auto address =
      reinterpret_cast<std::uintptr_t>(perfscope_symbols_test::g_return_address) - 1;
  const MappedFile mapping = own_mapping(perfscope_symbols_test::g_return_address);
  Symbolizer s;
  const auto& frames = s.resolve_user(mapping, address);
  ASSERT_EQ(frames.size(), 2u) << describe(frames);
  EXPECT_EQ(frames[0].function, "perfscope_symbols_test::inlined_helper()");
  EXPECT_TRUE(frames[0].inlined);
  EXPECT_EQ(frames[0].line, perfscope_symbols_test::kInlinedCallLine);
  EXPECT_TRUE(ends_with(frames[0].file, "symbols_elf_test.cpp")) << frames[0].file;
  EXPECT_EQ(frames[1].function, "perfscope_symbols_test::outer_with_inlined_helper()");
  EXPECT_FALSE(frames[1].inlined);
  EXPECT_EQ(frames[1].line, perfscope_symbols_test::kOuterCallLine) << "the call site";
  EXPECT_TRUE(ends_with(frames[1].file, "symbols_elf_test.cpp")) << frames[1].file;
  for (const auto& f : frames) {
    EXPECT_TRUE(f.resolved);
    EXPECT_EQ(f.module, mapping.path);
    EXPECT_EQ(f.module_offset, frames[0].module_offset);
  }

  // Without inline frames: one frame, the real function, at the line of the call it contains.
  Symbolizer flat(SymbolizerOptions{.inline_frames = false});
  const auto& one = flat.resolve_user(mapping, address);
  ASSERT_EQ(one.size(), 1u) << describe(one);
  EXPECT_EQ(one[0].function, "perfscope_symbols_test::outer_with_inlined_helper()");
  EXPECT_EQ(one[0].line, perfscope_symbols_test::kOuterCallLine);
  EXPECT_FALSE(one[0].inlined);

  // Without line numbers: names only.
  Symbolizer names(SymbolizerOptions{.line_numbers = false});
  const auto& bare = names.resolve_user(mapping, address);
  ASSERT_EQ(bare.size(), 2u) << describe(bare);
  EXPECT_TRUE(bare[0].file.empty());
  EXPECT_EQ(bare[0].line, 0u);
}

TEST(SymbolsElf, ResolvesLibcFunctionsByName) {
  void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libc, nullptr) << ::dlerror();
  // libc's own entries, not the sanitizer's interceptors.
  void* getpid_address = ::dlsym(libc, "getpid");
  void* malloc_address = ::dlsym(libc, "malloc");
  ::dlclose(libc);
  ASSERT_NE(getpid_address, nullptr);
  ASSERT_NE(malloc_address, nullptr);
  const MappedFile mapping = own_mapping(getpid_address);
  ASSERT_TRUE(ends_with(mapping.path, "/libc.so.6")) << mapping.path;

  // Debian's libc has no .symtab: without debug directories only .dynsym names it; with
  // /usr/lib/debug, libc6-dbg (when installed) adds a full symbol table and DWARF.
  for (const bool debug_dirs : {false, true}) {
    SCOPED_TRACE(debug_dirs ? "with /usr/lib/debug" : "with .dynsym only");
    SymbolizerOptions options;
    if (!debug_dirs) options.debug_dirs.clear();
    Symbolizer s(options);
    const auto& g = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(getpid_address));
    ASSERT_FALSE(g.empty());
    EXPECT_EQ(g.back().function, "getpid") << describe(g) << "not its alias __getpid";
    EXPECT_EQ(g.back().module, mapping.path);
    EXPECT_TRUE(g.back().resolved);
    EXPECT_FALSE(g.back().inlined);

    const auto& m = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(malloc_address) + 8);
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(m.back().function, "malloc") << describe(m) << "not its alias __libc_malloc";
    EXPECT_EQ(s.stats().modules_loaded, 1u);
  }
}

TEST(SymbolsElf, SharesAModuleByBuildId) {
  const void* target = reinterpret_cast<const void*>(&perfscope_symbols_test::resolve_me_target);
  MappedFile mapping = own_mapping(target);
  Symbolizer s;
  const auto& a = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target));
  // The same file reached through another path: the build-id read from it joins the two.
  mapping.open_path = "/proc/self/root" + mapping.path;
  const auto& b = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target));
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(s.stats().modules_loaded, 1u);
}

TEST(SymbolsElf, BuildIdMismatchMeansTheFileChanged) {
  const void* target = reinterpret_cast<const void*>(&perfscope_symbols_test::resolve_me_target);
  MappedFile mapping = own_mapping(target);
  mapping.build_id = "00112233445566778899aabbccddeeff00112233";
  Symbolizer s(SymbolizerOptions{.debug_dirs = {}});
  const auto& f = s.resolve_user(mapping, reinterpret_cast<std::uintptr_t>(target));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].resolved);
  EXPECT_NE(f[0].function.find("changed on disk"), std::string::npos) << f[0].function;
  EXPECT_EQ(s.stats().modules_failed, 1u);
}

TEST(SymbolsElf, MissingFileIsUnknownWithTheReasonAndRemembered) {
  Symbolizer s;
  const MappedFile mapping =
      file_mapping("/nonexistent/libfoo.so", 0x7f0000000000, 0x7f0000010000, 0x1000);
  const auto& f = s.resolve_user(mapping, 0x7f0000000100);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function,
            "[unknown: cannot open /nonexistent/libfoo.so: No such file or directory]");
  EXPECT_EQ(f[0].module, "/nonexistent/libfoo.so");
  EXPECT_FALSE(f[0].resolved);
  EXPECT_EQ(f[0].module_offset, 0x1100u) << "the file offset, as no ELF header was read";
  s.resolve_user(mapping, 0x7f0000000200);
  const auto stats = s.stats();
  EXPECT_EQ(stats.modules_failed, 1u) << "a failed module is not reopened";
  EXPECT_EQ(stats.addresses_unknown, 2u);
  EXPECT_EQ(stats.modules_loaded, 0u);
}

class SymbolsElfFiles : public testing::TempDirTest {};

TEST_F(SymbolsElfFiles, NotAnElfFile) {
  write_file("libtext.so", "just text, no ELF header here\n");
  Symbolizer s;
  const auto& f = s.resolve_user(file_mapping(path("libtext.so"), 0, 4096), 8);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function, "[unknown: " + path("libtext.so") + " is not an ELF file]");
  EXPECT_FALSE(f[0].resolved);
}

TEST_F(SymbolsElfFiles, ElfWithoutSymbols) {
  // A minimal valid ELF: a header and one PT_LOAD mapping file offset 0 at vaddr 0x400000; no
  // sections, so no symbol table and no DWARF.
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = 0x400100;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_X;
  ph.p_vaddr = ph.p_paddr = 0x400000;
  ph.p_filesz = ph.p_memsz = 0x1000;
  ph.p_align = 0x1000;
  std::string bytes(0x1000, '\0');
  std::memcpy(bytes.data(), &eh, sizeof eh);
  std::memcpy(bytes.data() + sizeof eh, &ph, sizeof ph);
  write_file("libbare.so", bytes);

  Symbolizer s;
  const MappedFile mapping = file_mapping(path("libbare.so"), 0x10000, 0x11000);
  const auto& f = s.resolve_user(mapping, 0x10123);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function, "[unknown: no symbols in libbare.so]");
  EXPECT_EQ(f[0].module, path("libbare.so"));
  EXPECT_EQ(f[0].module_offset, 0x400123u) << "file offset 0x123 through PT_LOAD";
  EXPECT_FALSE(f[0].resolved);
  const auto stats = s.stats();
  EXPECT_EQ(stats.modules_loaded, 1u);
  EXPECT_EQ(stats.modules_without_symbols, 1u);
  EXPECT_EQ(stats.addresses_unknown, 1u);
}

TEST(SymbolsElf, UnknownFrameCarriesReasonAndModule) {
  const Frame f = Symbolizer::unknown("process gone", "/usr/bin/app");
  EXPECT_EQ(f.function, "[unknown: process gone]");
  EXPECT_EQ(f.module, "/usr/bin/app");
  EXPECT_FALSE(f.resolved);
  EXPECT_TRUE(Symbolizer::unknown("x").module.empty());
}

}  // namespace
}  // namespace perfscope::symbols
