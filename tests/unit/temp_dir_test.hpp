// TempDirTest: a fixture that owns a fresh directory under /tmp for tests that read files
// (synthetic sysfs, tracefs and procfs trees). The directory and everything in it is removed in
// TearDown.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace perfscope::testing {

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
