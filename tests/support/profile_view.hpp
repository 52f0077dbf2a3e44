// What the recording tests look at in a saved profile, flattened: per sample its labels, its
// function names leaf first (inline frames included) and its count. Plus a fresh directory per
// test for output files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "profile/profile.hpp"

namespace perfscope::testing {

class TempDir {
 public:
  TempDir();  // mode 0777, so tests running as nobody can write there
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct FlatSample {
  std::string comm;
  std::int64_t pid = 0, tid = 0, cpu = 0;
  std::vector<std::string> frames;  // leaf first, inline frames included
  std::int64_t count = 0;
};

std::vector<FlatSample> flatten(const profile::Profile& p);
// The profile at `path`; a test failure (and an empty profile) when it cannot be read.
profile::Profile load(const std::string& path);
bool contains(const std::vector<std::string>& frames, const std::string& needle);
// Samples in all, or of threads named `comm`.
std::int64_t total(const std::vector<FlatSample>& samples, const std::string& comm = {});
// Samples of `comm` whose leaf frame contains `leaf`.
std::int64_t leaf_count(const std::vector<FlatSample>& samples, const std::string& comm,
                        const std::string& leaf);

}  // namespace perfscope::testing
