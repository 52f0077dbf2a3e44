// Separate debug files: a program compiled here with g++ -g, its DWARF moved out with objcopy,
// found again by build-id, by .gnu_debuglink (next to the file, in .debug/, under a debug
// directory), and refused when its build-id does not match.
#include <gtest/gtest.h>
#include <stdio.h>

#include <cstdlib>
#include <filesystem>

#include "support/requirements.hpp"
#include "symbols/elf_module.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kProgram =
    "namespace demo {\n"
    "__attribute__((noinline)) int leaf(int x) { return x * 7 + 3; }\n"  // line 2
    "__attribute__((noinline)) int top(int x) { return leaf(x) * 2; }\n"
    "}  // namespace demo\n"
    "int main(int argc, char**) { return demo::top(argc); }\n";
constexpr std::uint32_t kLeafLine = 2;

class SymbolsDebugFile : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    PS_REQUIRE(program("g++"), program("objcopy"), program("nm"));
    write_file("src/prog.cpp", kProgram);
    ASSERT_EQ(sh("g++ -O2 -g -Wl,--build-id -o " + path("prog") + " " + path("src/prog.cpp")), 0);
    ASSERT_EQ(sh("objcopy --only-keep-debug " + path("prog") + " " + path("prog.debug")), 0);
    leaf_ = symbol_address("_ZN4demo4leafEi");
    ASSERT_NE(leaf_, 0u);
    auto full = ElfModule::open(path("prog"), path("prog"), "", {});
    ASSERT_TRUE(full.has_value()) << full.error().describe();
    build_id_ = (*full)->build_id();
    ASSERT_GT(build_id_.size(), 2u);
  }

  static int sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str());
  }

  // The address nm reports for a symbol of the unstripped program.
  std::uint64_t symbol_address(const std::string& name) const {
    FILE* out = ::popen(("nm " + path("prog")).c_str(), "r");
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

  // A copy of the program without any symbols or DWARF in `dir`, optionally with a debuglink.
  std::string stripped_copy(const std::string& dir, bool with_debuglink) const {
    std::filesystem::create_directories(path(dir));
    const std::string out = path(dir + "/prog");
    const std::string link = with_debuglink ? " --add-gnu-debuglink=" + path("prog.debug") : "";
    EXPECT_EQ(sh("objcopy --strip-all" + link + " " + path("prog") + " " + out), 0);
    return out;
  }

  void place_debug_file(const std::string& relative) const {
    std::filesystem::create_directories(std::filesystem::path(path(relative)).parent_path());
    std::filesystem::copy_file(path("prog.debug"), path(relative));
  }

  void expect_leaf_resolves(ElfModule& module) const {
    std::vector<Frame> frames;
    module.symbolize(leaf_, true, true, frames);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].function, "demo::leaf(int)");
    EXPECT_EQ(frames[0].line, kLeafLine);
    EXPECT_EQ(std::filesystem::path(frames[0].file).filename(), "prog.cpp") << frames[0].file;
  }

  std::uint64_t leaf_ = 0;
  std::string build_id_;
};

TEST_F(SymbolsDebugFile, FoundByBuildId) {
  const std::string stripped = stripped_copy("bin", false);
  const std::string debug =
      "debug/.build-id/" + build_id_.substr(0, 2) + "/" + build_id_.substr(2) + ".debug";
  place_debug_file(debug);
  auto module = ElfModule::open("/opt/app/prog", stripped, "", {path("nothing"), path("debug")});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_EQ((*module)->debug_file(), path(debug));
  EXPECT_EQ((*module)->build_id(), build_id_);
  expect_leaf_resolves(**module);
}

TEST_F(SymbolsDebugFile, FoundByDebuglinkInDotDebug) {
  const std::string stripped = stripped_copy("bin", true);
  place_debug_file("bin/.debug/prog.debug");
  auto module = ElfModule::open(stripped, stripped, "", {});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_EQ((*module)->debug_file(), path("bin/.debug/prog.debug"));
  expect_leaf_resolves(**module);
}

TEST_F(SymbolsDebugFile, FoundByDebuglinkUnderDebugDirectory) {
  const std::string stripped = stripped_copy("bin", true);
  // DIR + the directory the process knows the file by + the debuglink name.
  place_debug_file("debug/opt/app/prog.debug");
  auto module = ElfModule::open("/opt/app/prog", stripped, "", {path("debug")});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_EQ((*module)->debug_file(), path("debug/opt/app/prog.debug"));
  expect_leaf_resolves(**module);
}

TEST_F(SymbolsDebugFile, DebugFileOfAnotherBuildIsIgnored) {
  const std::string stripped = stripped_copy("bin", true);
  // Same name, different program: its build-id differs.
  write_file("src/other.cpp", "int main() { return 7; }\n");
  ASSERT_EQ(sh("g++ -O2 -g -o " + path("other") + " " + path("src/other.cpp")), 0);
  ASSERT_EQ(sh("objcopy --only-keep-debug " + path("other") + " " + path("bin/prog.debug")), 0);
  auto module = ElfModule::open(stripped, stripped, "", {});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_EQ((*module)->debug_file(), "");
  EXPECT_FALSE((*module)->has_symbols());

  Symbolizer s(SymbolizerOptions{.debug_dirs = {}});
  MappedFile mapping;
  mapping.path = stripped;
  mapping.start = 0x10000;
  mapping.end = 0x20000;
  const auto& f = s.resolve_user(mapping, 0x10000 + 0x1000);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function, "[unknown: no symbols in prog]");
  EXPECT_EQ(s.stats().modules_without_symbols, 1u);
}

TEST_F(SymbolsDebugFile, ChangedFileResolvesThroughTheExpectedBuildIdsDebugFile) {
  // The process mapped `prog`; on disk it has since been replaced by another program. The debug
  // file of the original, found by the build-id the process reported, still resolves.
  place_debug_file("debug/.build-id/" + build_id_.substr(0, 2) + "/" + build_id_.substr(2) +
                   ".debug");
  write_file("src/other.cpp", "int main() { return 7; }\n");
  ASSERT_EQ(sh("g++ -O2 -g -o " + path("replaced") + " " + path("src/other.cpp")), 0);
  auto module = ElfModule::open("/opt/app/prog", path("replaced"), build_id_, {path("debug")});
  ASSERT_TRUE(module.has_value()) << module.error().describe();
  EXPECT_EQ((*module)->build_id(), build_id_);
  expect_leaf_resolves(**module);

  auto refused = ElfModule::open("/opt/app/prog", path("replaced"), build_id_, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("changed on disk"), std::string::npos);
}

}  // namespace
}  // namespace perfscope::symbols
