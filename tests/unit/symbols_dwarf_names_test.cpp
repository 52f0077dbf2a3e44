// SymbolizerOptions::dwarf_names: an address no ELF symbol covers is named from DWARF by default,
// and stays unknown (DWARF never opened) when a caller that wants neither inline frames nor line
// numbers turns it off, as `perfscope top` does. The program is compiled here with g++ -g and its
// symbol table removed with objcopy, its DWARF kept.
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
    "namespace demo {\n"
    "__attribute__((noinline)) int leaf(int x) { return x * 7 + 3; }\n"
    "__attribute__((noinline)) int top(int x) { return leaf(x) * 2; }\n"
    "}  // namespace demo\n"
    "int main(int argc, char**) { return demo::top(argc); }\n";
constexpr const char* kLeaf = "_ZN4demo4leafEi";

class SymbolsDwarfNames : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    PS_REQUIRE(program("g++"), program("objcopy"), program("nm"));
    write_file("src/prog.cpp", kProgram);
    ASSERT_EQ(sh("g++ -O2 -g -o " + path("full") + " " + path("src/prog.cpp")), 0);
    leaf_ = symbol_address(path("full"), kLeaf);
    ASSERT_NE(leaf_, 0u);
    ASSERT_EQ(
        sh("objcopy --strip-all --keep-section='.debug_*' " + path("full") + " " + path("prog")),
        0);
    ASSERT_EQ(symbol_address(path("prog"), kLeaf), 0u) << "objcopy left the symbol";
  }

  static int sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str());
  }

  // The address nm reports for a symbol of `file`, or 0.
  static std::uint64_t symbol_address(const std::string& file, const std::string& name) {
    FILE* out = ::popen(("nm " + file + " 2>/dev/null").c_str(), "r");
    if (out == nullptr) return 0;
    char line[512];
    std::uint64_t address = 0;
    while (std::fgets(line, sizeof line, out) != nullptr) {
      const std::string text = line;
      if (text.size() > name.size() && text.substr(text.size() - name.size() - 1) == name + "\n") {
        address = std::strtoull(line, nullptr, 16);
      }
    }
    ::pclose(out);
    return address;
  }

  std::uint64_t leaf_ = 0;
};

TEST_F(SymbolsDwarfNames, ElfModuleNamesFromDwarfOnlyWhenAsked) {
  auto module = ElfModule::open(path("prog"), path("prog"), "", {});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  ASSERT_FALSE((*module)->symbol_at(leaf_).has_value());

  std::vector<Frame> without;
  (*module)->symbolize(leaf_, false, false, without, /*dwarf_names=*/false);
  for (const Frame& f : without) EXPECT_NE(f.function, "demo::leaf(int)");

  std::vector<Frame> with;
  (*module)->symbolize(leaf_, false, false, with, /*dwarf_names=*/true);
  ASSERT_EQ(with.size(), 1u);
  EXPECT_EQ(with[0].function, "demo::leaf(int)");
}

TEST_F(SymbolsDwarfNames, SymbolizerWithoutDwarfNamesLeavesTheAddressUnknown) {
  MappedFile mapping;
  mapping.path = path("prog");
  mapping.start = 0x100000;
  mapping.end = 0x200000;
  mapping.pgoff = 0;
  // (a PIE: its text's file offsets are its virtual addresses)
  const std::uint64_t address = mapping.start + leaf_;

  Symbolizer named(
      SymbolizerOptions{.debug_dirs = {}, .inline_frames = false, .line_numbers = false});
  const auto& by_dwarf = named.resolve_user(mapping, address);
  ASSERT_EQ(by_dwarf.size(), 1u);
  EXPECT_EQ(by_dwarf[0].function, "demo::leaf(int)");

  Symbolizer plain(SymbolizerOptions{
      .debug_dirs = {}, .inline_frames = false, .line_numbers = false, .dwarf_names = false});
  const auto& unknown = plain.resolve_user(mapping, address);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_FALSE(unknown[0].resolved);
  EXPECT_NE(unknown[0].function, "demo::leaf(int)");
}

}  // namespace
}  // namespace perfscope::symbols
