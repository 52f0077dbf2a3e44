// perfscope's pprof files read by the reference reader, Go's `go tool pprof` (Debian golang-go):
// `-top` must list the same functions with the same self (flat) and total (cum) counts as
// `perfscope report` (with -symbolize=none pprof keeps the names as written; by default it would
// shorten C++ names to "ns::f"). Checked on a profile written by write_pprof, on one made by
// `perfscope convert` from folded stacks, and on a real recording of ps-burn. Skips, with the
// reason, when `go` is not installed (or, for the recording, when sampling is not allowed).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "profile/profile.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope {
namespace {

using testing::run;

struct Counts {
  std::int64_t self = 0, total = 0;
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{self " << c.self << ", total " << c.total << "}";
}

// The rows of `go tool pprof -top`: "flat flat% sum% cum cum% NAME".
std::map<std::string, Counts> parse_go_top(const std::string& text) {
  std::map<std::string, Counts> out;
  std::istringstream in(text);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("flat%") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table) continue;
    std::istringstream row(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct, name;
    if (!(row >> flat >> flat_pct >> sum_pct >> cum >> cum_pct)) continue;
    std::getline(row >> std::ws, name);
    if (name.ends_with(" (inline)"))
      name.replace(name.size() - 9, 9, " (inlined)");  // pprof marks inlined frames
    out[name] = {std::stoll(flat), std::stoll(cum)};
  }
  return out;
}

// The rows of `perfscope report`: "Self% Total% Self Total Function".
std::map<std::string, Counts> parse_report(const std::string& text) {
  std::map<std::string, Counts> out;
  std::istringstream in(text);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("Self%") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table) continue;
    if (line.empty()) break;
    std::istringstream row(line);
    std::string self_pct, total_pct, self, total, name;
    if (!(row >> self_pct >> total_pct >> self >> total)) break;
    std::getline(row >> std::ws, name);
    out[name] = {std::stoll(self), std::stoll(total)};
  }
  return out;
}

class PprofGo : public ::testing::Test {
 protected:
  void SetUp() override {
    PS_REQUIRE(program("go"));
    char tmpl[] = "/tmp/perfscope-pprof-go-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  // Both readers' view of `path`, every function (no node dropped by pprof), counted in samples.
  void expect_same_top(const std::string& path, std::size_t at_least) const {
    const auto go = run({"/bin/sh", "-c",
                         "HOME='" + dir_ + "' exec go tool pprof -top " +
                             "-symbolize=none -sample_index=samples -nodefraction=0 " +
                             "-edgefraction=0 '" + path + "' 2>&1"});
    ASSERT_EQ(go.exit_code, 0) << go.out << go.err;
    const auto ours = run({testing::perfscope_binary(), "report", "-i", path, "--top", "1000"});
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    const auto theirs = parse_go_top(go.out);
    const auto mine = parse_report(ours.out);
    ASSERT_GE(mine.size(), at_least) << ours.out;
    EXPECT_EQ(theirs, mine) << "go tool pprof -top:\n"
                            << go.out << "\nperfscope report:\n"
                            << ours.out;
  }

  std::string dir_;
};

TEST_F(PprofGo, ReadsAWrittenProfileWithTheSameTopFunctions) {
  testing::TestProfile t;
  const testing::Thread web{.pid = 42, .tid = 42, .cpu = 0, .comm = "web"};
  t.add({"main", "parse", "memcpy"}, 55, web);
  t.add({"main", "parse"}, 20, web);
  t.add({"main", "serve", "write"}, 15, web);
  t.add({"main", "recurse", "recurse", "leaf"}, 7, web);
  t.add({"main"}, 3, web);
  const std::string path = file("written.pb.gz");
  ASSERT_TRUE(profile::write_pprof(t.p, path));
  expect_same_top(path, 7);
}

TEST_F(PprofGo, ReadsAProfileConvertedFromFoldedStacks) {
  std::ofstream(file("in.folded"))
      << "app;main;hot 90\napp;main;warm_[k] 9\napp;main;x_[j];y_[i] 1\n";
  const auto r = run({testing::perfscope_binary(), "convert", "-i", file("in.folded"), "-o",
                      file("converted.pb.gz")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // perfscope report does not count the root frame "app" as a process here: convert made it a
  // function, which both readers count.
  expect_same_top(file("converted.pb.gz"), 5);
}

TEST_F(PprofGo, ReadsARealRecording) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const std::string path = file("burn.pb.gz");
  const auto rec = run({testing::perfscope_binary(), "record", "-F", "999", "-o", path, "--",
                        testing::target("ps-burn"), "600"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  expect_same_top(path, 3);
  const auto go = run({"/bin/sh", "-c",
                       "HOME='" + dir_ + "' exec go tool pprof -top -symbolize=none " +
                           "-sample_index=samples '" + path + "' 2>&1"});
  const auto top = parse_go_top(go.out);
  const std::string a = "perfscope_targets::burn_a(unsigned long, unsigned long)";
  const std::string b = "perfscope_targets::burn_b(unsigned long, unsigned long)";
  ASSERT_TRUE(top.contains(a)) << go.out;
  ASSERT_TRUE(top.contains(b)) << go.out;
  // ps-burn spends about three quarters in burn_a and one quarter in burn_b.
  EXPECT_GT(top.at(a).self, 2 * top.at(b).self) << go.out;
}

}  // namespace
}  // namespace perfscope
