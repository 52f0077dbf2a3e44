// Stripped files: a program compiled here, stripped with objcopy, then given MiniDebugInfo the
// way Fedora builds it (an xz-compressed .symtab of the functions .dynsym lacks, in
// .gnu_debugdata); the ELF entry point named _start without symbols; and the "module+0xADDRESS"
// frames a profile gives addresses no symbol names.
#include <gtest/gtest.h>
#include <stdio.h>

#include <cstdlib>
#include <string>

#include "support/requirements.hpp"
#include "symbols/elf_module.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kProgram =
    "__attribute__((noipa)) int hidden_leaf(int x) { return x * 7 + 3; }\n"
    "__attribute__((noipa)) int hidden_top(int x) { return hidden_leaf(x) * 2; }\n"
    "int main(int argc, char** argv) { (void)argv; return hidden_top(argc); }\n";

class SymbolsStripped : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    PS_REQUIRE(program("gcc"), program("objcopy"), program("nm"), program("xz"),
               program("readelf"));
    write_file("prog.c", kProgram);
    ASSERT_EQ(sh("gcc -O2 -fomit-frame-pointer -o " + path("prog") + " " + path("prog.c")), 0);
    ASSERT_EQ(sh("objcopy --strip-all " + path("prog") + " " + path("stripped")), 0);
    leaf_ = number("nm " + path("prog") + " | awk '$3 == \"hidden_leaf\" {print $1}'");
    entry_ = number("readelf -h " + path("prog") + " | awk '/Entry point/ {print $4}'");
    ASSERT_NE(leaf_, 0u);
    ASSERT_NE(entry_, 0u);
  }

  int sh(const std::string& command) const {
    return std::system(("cd " + path("") + " && (" + command + ") >/dev/null 2>&1").c_str());
  }

  // The hexadecimal number a shell command prints.
  static std::uint64_t number(const std::string& command) {
    FILE* out = ::popen(command.c_str(), "r");
    if (out == nullptr) return 0;
    char line[128] = {};
    const bool read = std::fgets(line, sizeof line, out) != nullptr;
    ::pclose(out);
    return read ? std::strtoull(line, nullptr, 16) : 0;
  }

  std::uint64_t leaf_ = 0, entry_ = 0;
};

TEST_F(SymbolsStripped, MiniDebugInfoNamesTheFunctionsDynsymLacks) {
  // Fedora's recipe (find-debuginfo.sh): the local and global functions not in .dynsym, kept in
  // a symbol-only debug file, xz-compressed into .gnu_debugdata of the stripped program.
  ASSERT_EQ(sh("nm -D prog --format=posix --defined-only | awk '{print $1}' | sort > dynsyms && "
               "nm prog --format=posix --defined-only | awk '$2 == \"T\" || $2 == \"t\" "
               "{print $1}' | sort > funcsyms && comm -13 dynsyms funcsyms > keep && "
               "objcopy --only-keep-debug prog mini.full && objcopy -S --remove-section "
               ".comment --keep-symbols=keep mini.full mini && xz mini && "
               "objcopy --add-section .gnu_debugdata=mini.xz stripped minidebug"),
            0);
  auto module = ElfModule::open(path("minidebug"), path("minidebug"), "", {});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_TRUE((*module)->has_symbols());
  std::vector<Frame> frames;
  (*module)->symbolize(leaf_ + 2, true, true, frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "hidden_leaf");
  EXPECT_TRUE(frames[0].resolved);
}

TEST_F(SymbolsStripped, TheEntryPointIsStartWithoutSymbols) {
  auto module = ElfModule::open(path("stripped"), path("stripped"), "", {});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_FALSE((*module)->has_symbols());
  std::vector<Frame> frames;
  (*module)->symbolize(entry_ + 4, true, true, frames);  // inside _start, from its FDE
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "_start");
  frames.clear();
  (*module)->symbolize(leaf_, true, true, frames);
  EXPECT_TRUE(frames.empty()) << frames[0].function;
}

TEST_F(SymbolsStripped, AProfileNamesEachUnknownAddressByModuleAndAddress) {
  Symbolizer s(SymbolizerOptions{.debug_dirs = {}});
  MappedFile mapping;
  mapping.path = "/opt/app/stripped";
  mapping.open_path = path("stripped");
  mapping.start = 0x555555554000;
  mapping.end = mapping.start + 0x10000;
  // A PIE maps its file from offset 0 at its load address: vaddr = address - start.
  const auto& leaf = s.resolve_user(mapping, mapping.start + leaf_);
  ASSERT_EQ(leaf.size(), 1u);
  EXPECT_FALSE(leaf[0].resolved);
  char expected[64];
  std::snprintf(expected, sizeof expected, "stripped+0x%llx",
                static_cast<unsigned long long>(leaf_));
  const Frame named = Symbolizer::by_address(leaf[0]);
  EXPECT_EQ(named.function, expected);
  EXPECT_EQ(named.module, "/opt/app/stripped");
  EXPECT_FALSE(named.resolved);
  // A return address is looked up one byte back (its call) and named as itself.
  const auto& call = s.resolve_user(mapping, mapping.start + leaf_ + 4);
  std::snprintf(expected, sizeof expected, "stripped+0x%llx",
                static_cast<unsigned long long>(leaf_ + 5));
  EXPECT_EQ(Symbolizer::by_address(call[0], 1).function, expected);
}

}  // namespace
}  // namespace perfscope::symbols
