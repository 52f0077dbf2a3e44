#include "support/profile_view.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace perfscope::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/perfscope-test-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  ::chmod(path_.c_str(), 0777);
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::vector<FlatSample> flatten(const profile::Profile& p) {
  std::vector<FlatSample> out;
  for (const auto& s : p.samples()) {
    FlatSample f;
    f.count = s.values.at(0);
    for (const auto& l : s.labels) {
      const auto key = p.string(l.key);
      if (key == "comm") f.comm = std::string(p.string(l.str));
      if (key == "pid") f.pid = l.num;
      if (key == "tid") f.tid = l.num;
      if (key == "cpu") f.cpu = l.num;
    }
    for (auto id : s.location_ids) {
      for (const auto& line : p.location(id).lines) {
        f.frames.emplace_back(p.string(p.function(line.function_id).name));
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

profile::Profile load(const std::string& path) {
  auto p = profile::read_pprof(path);
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().describe());
  return p ? std::move(*p) : profile::Profile{};
}

bool contains(const std::vector<std::string>& frames, const std::string& needle) {
  for (const auto& f : frames) {
    if (f.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::int64_t total(const std::vector<FlatSample>& samples, const std::string& comm) {
  std::int64_t n = 0;
  for (const auto& s : samples) {
    if (comm.empty() || s.comm == comm) n += s.count;
  }
  return n;
}

std::int64_t leaf_count(const std::vector<FlatSample>& samples, const std::string& comm,
                        const std::string& leaf) {
  std::int64_t n = 0;
  for (const auto& s : samples) {
    if (s.comm == comm && !s.frames.empty() && s.frames.front().find(leaf) != std::string::npos) {
      n += s.count;
    }
  }
  return n;
}

}  // namespace perfscope::testing
