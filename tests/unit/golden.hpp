// Golden-file comparison for the renderers' unit tests: tests/golden/NAME, byte for byte.
// PERFSCOPE_BLESS=1 writes the files instead of comparing.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace perfscope::testing {

// The folded stacks the SVG and HTML flame graph golden files are drawn from: kernel [k], inlined
// [i] and JIT [j] frames, and a name too long for its box.
inline constexpr std::string_view kFlamegraphFixture =
    "app;main;parse;memcpy 60\n"
    "app;main;parse 20\n"
    "app;main;serve;write;sys_write_[k] 10\n"
    "app;main;serve;render_[i] 5\n"
    "app;main;jit_code_[j] 4\n"
    "app;main;a_function_with_a_long_name_that_does_not_fit<std::vector<int>> 1\n";

inline const std::filesystem::path& golden_dir() {
  // From CMake, not __FILE__: a compiler cache may rewrite __FILE__ relative to the build folder.
  static const std::filesystem::path dir = PERFSCOPE_GOLDEN_DIR;
  return dir;
}

inline void expect_golden(const std::string& name, const std::string& actual) {
  const auto path = golden_dir() / name;
  const char* bless = std::getenv("PERFSCOPE_BLESS");
  if (bless != nullptr && std::string(bless) == "1") {
    std::filesystem::create_directories(golden_dir());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing: run the test with PERFSCOPE_BLESS=1 to write it";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string expected = ss.str();
  if (expected == actual) return;
  std::size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const std::size_t from = at > 80 ? at - 80 : 0;
  ADD_FAILURE() << path << " differs at byte " << at << " (PERFSCOPE_BLESS=1 rewrites it)\n"
                << "expected: ..." << expected.substr(from, 200) << "\n"
                << "actual:   ..." << actual.substr(from, 200);
}

}  // namespace perfscope::testing
