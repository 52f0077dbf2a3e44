// TempDirTest: a fixture that owns a fresh directory under /tmp for tests that read files
// (synthetic sysfs, tracefs and procfs trees). The directory and everything in it is removed in
// TearDown.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace perfscope::testing {

// A whole file's bytes ("" when it cannot be read), and a file made of exactly `bytes`: for the
// tests that damage files byte by byte.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/perfscope-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << "mkdtemp failed";
    root_ = pattern;
  }

  void TearDown() override {
    std::error_code ignored;
    if (!root_.empty()) std::filesystem::remove_all(root_, ignored);
  }

  // The absolute path of `relative` inside the temporary directory.
  std::string path(const std::string& relative) const { return root_ + "/" + relative; }

  // Writes `content` to `relative`, creating the directories above it.
  void write_file(const std::string& relative, const std::string& content) const {
    const std::filesystem::path file = path(relative);
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    ASSERT_TRUE(out.good()) << "cannot write " << file;
  }

  void make_dir(const std::string& relative) const {
    std::filesystem::create_directories(path(relative));
  }

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace perfscope::testing
