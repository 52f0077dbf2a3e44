// perfscope's pprof files read by the reference reader, Go's `go tool pprof` (Debian golang-go):
// `-top` must list the same functions with the same self (flat) and total (cum) counts as
// `perfscope report` (with -symbolize=none pprof keeps the names as written; by default it would
// shorten C++ names to "ns::f"). Checked on a profile written by write_pprof, on one made by
// `perfscope convert` from folded stacks, and on a real recording of ps-burn. Skips, with the
// reason, when `go` is not installed (or, for the recording, when sampling is not allowed).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

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

// `go tool pprof ARGS PATH`, standard error included (its notes and warnings go there).
testing::RunResult go_pprof(const std::string& home, const std::string& args,
                            const std::string& path) {
  return run(
      {"/bin/sh", "-c", "HOME='" + home + "' exec go tool pprof " + args + " '" + path + "' 2>&1"});
}

// The values `go tool pprof -tags` lists under `key:` ("pid:", "cpu:"): the last field of each
// row " 2997 (62.45%): 0" until the blank line.
std::vector<std::string> go_tag_values(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  bool in_key = false;
  while (std::getline(in, line)) {
    const std::size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos) {
      in_key = false;
      continue;
    }
    if (line.compare(first, key.size() + 1, key + ":") == 0 &&
        line.find("Total") != std::string::npos) {
      in_key = true;
      continue;
    }
    if (!in_key) continue;
    const std::size_t colon = line.rfind("):");
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 2);
    value.erase(0, value.find_first_not_of(' '));
    out.push_back(value);
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The address of `name` in /proc/kallsyms (kernel image symbols), 0 when absent or hidden.
std::uint64_t kallsyms_address(const std::string& name) {
  std::ifstream in("/proc/kallsyms");
  std::string address, type, sym;
  while (in >> address >> type >> sym) {
    if (sym == name && in.peek() == '\n') return std::stoull(address, nullptr, 16);
  }
  return 0;
}

TEST_F(PprofGo, ZeroLabelsDefaultTypeKernelRangeAndStartLinesOfASystemWideRecording) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  const std::string path = file("all.pb.gz");
  // System-wide while ps-burn runs on one CPU: the idle CPU's samples are the swapper's (pid and
  // tid 0), and CPU 0 is one of the CPUs sampled.
  const auto rec = run({testing::perfscope_binary(), "record", "-a", "-F", "499", "-o", path, "--",
                        testing::target("ps-burn"), "600"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto ours = run({testing::perfscope_binary(), "report", "-i", path, "--by", "cpu"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_NE(ours.out.find("  cpu 0\n"), std::string::npos) << ours.out;
  // The swapper runs only where a CPU idles: on a machine kept busy by other work it may have no
  // sample, and then there is no pid 0 to look for.
  const bool swapper =
      run({testing::perfscope_binary(), "report", "-i", path, "--pid", "0"}).exit_code == 0;
  if (!swapper) std::cerr << "note: no CPU idled during the recording: pid 0 not checked\n";

  // The tags Go's pprof sees: cpu 0, and pid and tid 0 when the swapper ran (a num label of 0
  // without a unit would be dropped on reading).
  const auto tags = go_pprof(dir_, "-tags", path);
  ASSERT_EQ(tags.exit_code, 0) << tags.out;
  EXPECT_TRUE(contains(go_tag_values(tags.out, "cpu"), "0")) << tags.out;
  if (swapper) {
    EXPECT_TRUE(contains(go_tag_values(tags.out, "pid"), "0")) << tags.out;
    EXPECT_TRUE(contains(go_tag_values(tags.out, "tid"), "0")) << tags.out;
  }
  EXPECT_FALSE(go_tag_values(tags.out, "comm").empty()) << tags.out;
  EXPECT_FALSE(go_tag_values(tags.out, "pid").empty()) << tags.out;
  // -tagfocus with a number keeps the samples with that num label: on CPU 0, as many as
  // perfscope counts there (" 50.19%   2846  cpu 0").
  const std::size_t row = ours.out.rfind('\n', ours.out.find("  cpu 0\n")) + 1;
  std::istringstream cpu0_row(ours.out.substr(row));
  std::string share, cpu0_count;
  cpu0_row >> share >> cpu0_count;
  for (const std::string focus : {"cpu=0", swapper ? "pid=0" : "cpu=1:"}) {
    const auto top = go_pprof(dir_, "-top -nodefraction=0 -tagfocus=" + focus, path);
    ASSERT_EQ(top.exit_code, 0) << focus << ": " << top.out;
    EXPECT_EQ(top.out.find("matched no samples"), std::string::npos) << focus << ": " << top.out;
    EXPECT_EQ(top.out.find("accounting for 0,"), std::string::npos) << focus << ": " << top.out;
    if (focus == "cpu=0") {
      EXPECT_NE(top.out.find("accounting for " + cpu0_count + ","), std::string::npos)
          << "perfscope counts " << cpu0_count << " on cpu 0:\n"
          << top.out;
    }
  }

  // default_sample_type: Go shows samples, the type perfscope report counts, without
  // -sample_index; the raw dump marks it [dflt].
  const auto top = go_pprof(dir_, "-top", path);
  ASSERT_EQ(top.exit_code, 0) << top.out;
  EXPECT_NE(top.out.find("Type: samples\n"), std::string::npos) << top.out;
  const auto raw = go_pprof(dir_, "-raw -symbolize=none", path);
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  EXPECT_NE(raw.out.find("samples/count[dflt]"), std::string::npos) << raw.out.substr(0, 400);

  // The kernel's mapping spans its text, _stext on, not the whole address space.
  const std::uint64_t stext = kallsyms_address("_stext");
  const std::uint64_t etext = kallsyms_address("_etext");
  std::istringstream lines(raw.out);
  std::string line;
  bool kernel_mapping = false;
  while (std::getline(lines, line)) {
    // "3: 0xffffffff81000000/0xffffffff835ec770/0x0 [kernel.kallsyms]  [FN]"
    if (line.find(" [kernel.kallsyms] ") == std::string::npos || line.find("0x") == line.npos) {
      continue;
    }
    std::istringstream fields(line.substr(line.find(':') + 1));
    std::string range;
    fields >> range;
    const std::size_t slash = range.find('/');
    const std::uint64_t start = std::stoull(range.substr(0, slash), nullptr, 16);
    const std::uint64_t limit = std::stoull(range.substr(slash + 1), nullptr, 16);
    kernel_mapping = true;
    EXPECT_NE(limit, ~std::uint64_t{0}) << line;
    EXPECT_LT(start, limit) << line;
    if (stext != 0 && etext != 0) {
      EXPECT_EQ(start, stext) << line;
      EXPECT_GE(limit, etext) << line;
    }
  }
  EXPECT_TRUE(kernel_mapping) << "no [kernel.kallsyms] mapping in:\n" << raw.out.substr(0, 2000);

  // Start lines: burn_a's DW_AT_decl_line, the line of its name in tests/targets/burn.cpp.
  // "   490: 0x5598 M=12 perfscope_targets::burn_a(unsigned long, unsigned long) ../burn.cpp:15
  // s=14"
  const std::string burn_a = "perfscope_targets::burn_a(unsigned long, unsigned long) ";
  const std::size_t at = raw.out.find(burn_a);
  ASSERT_NE(at, std::string::npos) << raw.out;
  const std::string where =
      raw.out.substr(at + burn_a.size(), raw.out.find('\n', at) - at - burn_a.size());
  const std::size_t s_at = where.find(" s=");
  ASSERT_NE(s_at, std::string::npos) << where;
  std::ifstream src(std::string(PERFSCOPE_TEST_DATA) + "/../targets/burn.cpp");
  ASSERT_TRUE(src) << "cannot open tests/targets/burn.cpp";
  int number = 0, declared = 0;
  while (std::getline(src, line)) {
    ++number;
    if (line.find("unsigned long burn_a(") != std::string::npos) {
      declared = number;
      break;
    }
  }
  EXPECT_EQ(std::stoi(where.substr(s_at + 3)), declared) << where;
}

TEST_F(PprofGo, NumLabelsOfZeroWithoutAUnitAreWhatGoDrops) {
  // Why the recorder gives its num labels a unit: an older perfscope profile (no units) loses
  // cpu 0 in Go's reader, while perfscope reads it either way.
  testing::TestProfile t;
  t.add({"main", "idle"}, 5, {.pid = 0, .tid = 0, .cpu = 0, .comm = "swapper/0"});
  t.add({"main", "work"}, 3, {.pid = 9, .tid = 9, .cpu = 1, .comm = "app"});
  ASSERT_TRUE(profile::write_pprof(t.p, file("units.pb.gz")));
  // The same profile with the units taken off, as perfscope wrote it before.
  std::vector<profile::Sample> samples(t.p.samples().begin(), t.p.samples().end());
  t.p.retain_samples([](const profile::Sample&) { return false; });
  for (profile::Sample& s : samples) {
    for (profile::Label& l : s.labels) l.num_unit = 0;
    t.p.add_sample(std::move(s));
  }
  ASSERT_TRUE(profile::write_pprof(t.p, file("old.pb.gz")));
  const auto with_units = go_tag_values(go_pprof(dir_, "-tags", file("units.pb.gz")).out, "cpu");
  EXPECT_TRUE(contains(with_units, "0")) << ::testing::PrintToString(with_units);
  const auto without = go_tag_values(go_pprof(dir_, "-tags", file("old.pb.gz")).out, "cpu");
  EXPECT_FALSE(contains(without, "0")) << ::testing::PrintToString(without);
  // perfscope's reader: pid 0 and cpu 0 in both.
  for (const char* name : {"units.pb.gz", "old.pb.gz"}) {
    const auto cpus = run({testing::perfscope_binary(), "report", "-i", file(name), "--by", "cpu"});
    ASSERT_EQ(cpus.exit_code, 0) << cpus.err;
    EXPECT_NE(cpus.out.find("%      5  cpu 0\n"), std::string::npos) << name << cpus.out;
    const auto pid0 = run({testing::perfscope_binary(), "report", "-i", file(name), "--pid", "0"});
    ASSERT_EQ(pid0.exit_code, 0) << name << pid0.err;
    EXPECT_NE(pid0.out.find("idle"), std::string::npos) << name << pid0.out;
  }
}

}  // namespace
}  // namespace perfscope
