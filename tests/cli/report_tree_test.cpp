// `perfscope report`'s exploring views through the real binary (issue 23): call trees (-g caller
// and callee, --callers, --callees, --min-percent, --focus, --ignore), perf's sort keys, --by
// thread, --tid, --by time, --time and --annotate.
//
// - Golden files (tests/golden/report_*.txt; PERFSCOPE_BLESS=1 rewrites them) of every view on a
//   small written profile, whose numbers are exact.
// - Profiles recorded here from ps-tree (a known call tree in two phases): the tree's shape and
//   shares, the phases in time, the hot source line; ps-busy (no debug info): its disassembly.
// - The same ps-tree recorded by the real `perf record -g`, read by perfscope (perf.data): the
//   call tree of every top function perf shows as a caller graph agrees with
//   `perf report -g caller --stdio` path by path, within 1.5 points.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "profile/profile.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::RunResult;
using testing::target;
using testing::TempDir;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The view of a report: from its first empty line on (the header names the file).
std::string view_of(const std::string& out) {
  const auto at = out.find("\n\n");
  return at == std::string::npos ? out : out.substr(at + 1);
}

// "ns::f(unsigned long, unsigned long)" -> "ns::f", as perf report names functions.
std::string without_parameters(std::string name) {
  if (!name.ends_with(')')) return name;
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    if (name[i] == '(' && --depth == 0) return i == 0 ? name : name.substr(0, i);
  }
  return name;
}

// A call tree as "root;child;grandchild" -> percent: perfscope's -g text, one block per root.
using Paths = std::map<std::string, double>;

Paths parse_our_tree(const std::string& text) {
  Paths out;
  std::vector<std::string> path;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto pct_end = line.find("%  ");
    if (pct_end == std::string::npos || line.find_first_not_of(" 0123456789.") != pct_end) {
      continue;
    }
    const double pct = std::stod(line.substr(0, pct_end));
    std::string rest = line.substr(pct_end + 3);
    std::size_t depth = 0;
    if (rest.starts_with("|- ") || rest.starts_with("`- ") || rest.starts_with("|  ") ||
        rest.starts_with("   ")) {
      const auto mark = std::min(rest.find("|- "), rest.find("`- "));
      depth = mark / 3 + 1;
      rest = rest.substr(mark + 3);
    } else {
      rest = rest.substr(0, rest.rfind("  (self "));
    }
    path.resize(depth);
    path.push_back(without_parameters(rest));
    std::string key;
    for (const auto& p : path) key += (key.empty() ? "" : ";") + p;
    out[key] = pct;
  }
  return out;
}

// perf report -g caller --stdio (children mode): for each entry, its graph. Only entries with no
// self samples are taken: their graph is what the entry calls, as perfscope's -g caller tree
// (an entry with self samples also shows the chains that lead to it). The entry is the root: its
// graph starts with a line holding one '|' (the root's column), then "---CHILD" (one child) or
// "|--P%--CHILD" branches; a name alone continues the chain above it.
Paths parse_perf_tree(const std::string& text) {
  Paths out;
  struct Node {
    std::size_t col;
    std::string path;
    double pct;
  };
  std::vector<Node> stack;
  double entry_pct = 0;
  std::string entry_name;
  bool root_pending = false, taking = false;
  std::istringstream in(text);
  const std::regex entry(R"(^ *([0-9.]+)% +([0-9.]+)% +\[.\] (.*[^ ]) *$)");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    // An entry: "    97.97%     0.00%  [.] main" (user or kernel, [.] or [k]).
    std::smatch m;
    if (std::regex_match(line, m, entry)) {
      entry_pct = std::stod(m[1].str());
      entry_name = m[3].str();
      root_pending = std::stod(m[2].str()) < 0.005;
      stack.clear();
      taking = false;
      continue;
    }
    const auto first = line.find_first_not_of(" |");
    if (first == std::string::npos) {
      const auto bar = line.find('|');
      if (root_pending && bar != std::string::npos) {
        stack = {{bar, entry_name, entry_pct}};
        out[entry_name] = entry_pct;
        root_pending = false;
        taking = true;
      }
      continue;
    }
    if (!taking) continue;
    if (line.compare(first, 3, "---") == 0) {
      stack.resize(1);
      stack.push_back({first + 3, entry_name + ";" + line.substr(first + 3), entry_pct});
      out[stack.back().path] = entry_pct;
      continue;
    }
    std::size_t name_col = first;
    double pct = -1;
    std::size_t parent_col = first;
    if (line.compare(first, 2, "--") == 0) {
      const auto end = line.find("%--", first);
      if (end == std::string::npos) continue;
      pct = std::stod(line.substr(first + 2, end - first - 2));
      name_col = end + 3;
      parent_col = first - 1;
    }
    while (!stack.empty() && stack.back().col > parent_col) stack.pop_back();
    if (stack.empty() || stack.back().col != parent_col) continue;
    const Node parent = stack.back();
    const std::string name = line.substr(name_col);
    stack.push_back({name_col, parent.path + ";" + name, pct < 0 ? parent.pct : pct});
    out[stack.back().path] = stack.back().pct;
  }
  return out;
}

// A profile with exact numbers and time labels: web (pid 42, threads 42 and 43) and db (pid 77,
// thread 78); memcpy in libc.so.6; periods of 100 ms.
void write_small_profile(const std::string& file) {
  testing::TestProfile t;
  profile::Profile& p = t.p;
  const auto memcpy_loc = t.frame("memcpy", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  auto add = [&](const std::vector<std::string>& root_first, bool in_memcpy, std::int64_t count,
                 const testing::Thread& th, std::int64_t time_ms) {
    profile::Sample s;
    if (in_memcpy) s.location_ids.push_back(memcpy_loc);
    for (auto f = root_first.rbegin(); f != root_first.rend(); ++f) {
      s.location_ids.push_back(t.frame(*f));
    }
    s.values = {count, count * testing::TestProfile::kPeriod};
    s.labels = {{.key = p.intern("pid"), .num = th.pid, .num_unit = p.intern("pid")},
                {.key = p.intern("tid"), .num = th.tid, .num_unit = p.intern("tid")},
                {.key = p.intern("cpu"), .num = th.cpu, .num_unit = p.intern("cpu")},
                {.key = p.intern("comm"), .str = p.intern(th.comm)},
                {.key = p.intern("time"), .num = time_ms, .num_unit = p.intern("milliseconds")}};
    p.add_sample(std::move(s));
  };
  const testing::Thread worker{.pid = 42, .tid = 43, .cpu = 1, .comm = "web-worker"};
  add({"main", "parse"}, true, 30, testing::kWeb, 0);
  add({"main", "parse"}, false, 10, testing::kWeb, 100);
  add({"main", "serve"}, true, 10, testing::kWeb, 200);
  add({"main", "worker"}, true, 20, worker, 200);
  add({"main", "query"}, false, 20, testing::kDb, 300);
  add({"main", "query"}, true, 10, testing::kDb, 300);
  ASSERT_TRUE(profile::write_pprof(p, file));
}

class ReportViews : public ::testing::Test {
 protected:
  void SetUp() override { write_small_profile(dir_.file("small.pb.gz")); }

  RunResult report(std::vector<std::string> args) const {
    args.insert(args.begin(), {perfscope_binary(), "report", "-i", "small.pb.gz"});
    return run(args, {.cwd = dir_.path()});
  }

  // The view must equal tests/golden/report_NAME.txt (PERFSCOPE_BLESS=1 writes it).
  void expect_golden(const std::string& name, std::vector<std::string> args) const {
    const auto r = report(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string view = view_of(r.out);
    const std::string golden = std::string(PERFSCOPE_GOLDEN_DIR) + "/report_" + name + ".txt";
    const char* bless = std::getenv("PERFSCOPE_BLESS");
    if (bless != nullptr && std::string(bless) == "1") {
      std::ofstream(golden) << view;
      return;
    }
    EXPECT_EQ(view, read_file(golden)) << "golden " << golden << "; whole output:\n" << r.out;
  }

  TempDir dir_;
};

TEST_F(ReportViews, CallerTreeGolden) {
  expect_golden("caller", {"-g", "caller"});
}
TEST_F(ReportViews, CalleeTreeGolden) {
  expect_golden("callee", {"-g", "callee", "--top", "3"});
}
TEST_F(ReportViews, CallersOfOneFunctionGolden) {
  expect_golden("callers_memcpy", {"--callers", "memcpy"});
}
TEST_F(ReportViews, CalleesOfOneFunctionGolden) {
  expect_golden("callees_main", {"--callees", "^main$"});
}
TEST_F(ReportViews, MinPercentCollapsesSmallBranchesGolden) {
  expect_golden("min_percent", {"--callees", "^main$", "--min-percent", "15"});
}
TEST_F(ReportViews, FocusAndIgnoreGolden) {
  expect_golden("focus_ignore",
                {"-g", "caller", "--focus", "parse|query", "--ignore", "memcpy", "--top", "2"});
}
TEST_F(ReportViews, PerfSortKeysGolden) {
  expect_golden("sort_comm_dso_sym", {"--sort", "comm,dso,sym"});
}
TEST_F(ReportViews, PerfSortKeysAnyOrderGolden) {
  expect_golden("sort_sym_srcline", {"--sort", "sym,srcline"});
}
TEST_F(ReportViews, ByThreadGolden) {
  expect_golden("by_thread", {"--by", "thread"});
}
TEST_F(ReportViews, TidGolden) {
  expect_golden("tid", {"--tid", "43,78", "--by", "thread"});
}
TEST_F(ReportViews, ByTimeGolden) {
  expect_golden("by_time", {"--by", "time"});
}
TEST_F(ReportViews, TimeWindowGolden) {
  expect_golden("time_window", {"--time", "0.1-0.3", "--sort", "sym"});
}
TEST_F(ReportViews, TimePercentWindowGolden) {
  expect_golden("time_percent", {"--time", "50%-100%", "--sort", "comm"});
}

TEST_F(ReportViews, CutIsNamedInTheHeaderAndAppliesToTables) {
  const auto r = report({"--time", "75%-", "--focus", "query"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Cut: time 75%-, focus 'query'\n")) << r.out;
  EXPECT_TRUE(has(r.out, " 33.33%  33.33%     10     10  memcpy\n")) << r.out;
  EXPECT_TRUE(has(r.out, " 66.67% 100.00%     20     30  query\n")) << r.out;
}

TEST_F(ReportViews, BadInputsAreOneErrorEach) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--sort", "comm,bogus"}, "cannot sort by 'comm,bogus'"},
           {{"--sort", "sym,sym"}, "cannot sort by 'sym,sym'"},
           {{"--time", "3-1"}, "cannot read the time range '3-1'"},
           {{"--time", "10%-2"}, "cannot read the time range '10%-2'"},
           {{"--focus", "("}, "cannot use '(' as a regular expression (--focus)"},
           {{"--callers", "nosuchfunction"}, "no function in the matching samples matches"},
           {{"--annotate", "nosuch"}, "no samples ran in a function matching 'nosuch'"},
           {{"--annotate", "e"}, "'e' matches several functions that ran"},
       }) {
    const auto r = report(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1];
    EXPECT_TRUE(has(r.err, message)) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(ReportViews, TimeNeedsTimeLabels) {
  testing::TestProfile t;
  t.add({"main"}, 5);
  ASSERT_TRUE(profile::write_pprof(t.p, dir_.file("old.pb.gz")));
  for (const auto& args :
       {std::vector<std::string>{"--time", "0-1"}, std::vector<std::string>{"--by", "time"}}) {
    auto argv = args;
    argv.insert(argv.begin(), {perfscope_binary(), "report", "-i", "old.pb.gz"});
    const auto r = run(argv, {.cwd = dir_.path()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(has(r.err, "the profile has no time labels")) << r.err;
  }
}

TEST_F(ReportViews, BareAnnotateStillMarksFoldedFrames) {
  const auto r = report({"--folded", "--annotate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "web;main;parse;memcpy 30\n")) << r.out;
}

// ps-tree recorded by perfscope once for the tests below.
class RecordedTree : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const auto r = run({perfscope_binary(), "record", "--backend", "perf", "-F", "999", "-o",
                        dir_->file("tree.pb.gz"), "--", target("ps-tree"), "1000"});
    record_ = new RunResult(r);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete record_;
  }
  void SetUp() override {
    PS_REQUIRE(paranoid(2), pmu("software"));
    ASSERT_EQ(record_->exit_code, 0) << record_->err;
  }
  static RunResult report(std::vector<std::string> args) {
    args.insert(args.begin(), {perfscope_binary(), "report", "-i", dir_->file("tree.pb.gz")});
    return run(args);
  }
  static TempDir* dir_;
  static RunResult* record_;
};
TempDir* RecordedTree::dir_ = nullptr;
RunResult* RecordedTree::record_ = nullptr;

constexpr const char* kNs = "perfscope_targets::";

std::string ns(const std::string& name) {
  return kNs + name;
}

TEST_F(RecordedTree, CallerTreeHasTheTargetsShape) {
  const auto r = report({"--callees", "^main$", "--min-percent", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Paths tree = parse_our_tree(r.out);
  const double main = tree.at("main");
  ASSERT_GT(main, 90.0) << r.out;
  const std::string one = "main;" + ns("phase_one"), two = "main;" + ns("phase_two");
  ASSERT_TRUE(tree.contains(one) && tree.contains(two)) << r.out;
  // Each phase is half the CPU time; in phase one, left does twice right's work.
  EXPECT_NEAR(tree.at(one), main / 2, 8.0) << r.out;
  EXPECT_NEAR(tree.at(two), main / 2, 8.0) << r.out;
  const double left = tree.at(one + ";" + ns("work_left"));
  const double right = tree.at(one + ";" + ns("work_right"));
  EXPECT_NEAR(left / (left + right), 2.0 / 3, 0.08) << r.out;
  EXPECT_GT(tree.at(two + ";" + ns("work_right") + ";" + ns("spin")), tree.at(two) - 2) << r.out;
}

TEST_F(RecordedTree, CallersOfWorkRightAreBothPhases) {
  const auto r = report({"--callers", "work_right"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Paths tree = parse_our_tree(r.out);
  const std::string root = ns("work_right");
  ASSERT_TRUE(tree.contains(root)) << r.out;
  const double two = tree.at(root + ";" + ns("phase_two"));
  const double one = tree.at(root + ";" + ns("phase_one"));
  // phase two: 3 chunks, all of its half; phase one: 1 chunk of its 3.
  EXPECT_NEAR(two / (one + two), 0.75, 0.08) << r.out;
  EXPECT_NEAR(tree.at(root + ";" + ns("phase_two") + ";main"), two, 0.01) << r.out;
}

// Rows of `report --by time` with a share above 0: [start, end) in seconds.
std::vector<std::pair<double, double>> busy_periods(const std::string& out) {
  std::vector<std::pair<double, double>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    double start = 0, end = 0, share = 0;
    char dash = 0, s = 0;
    std::istringstream fields(line);
    if (!(fields >> start >> dash >> end >> s >> share) || dash != '-' || s != 's') continue;
    if (share > 0) rows.emplace_back(start, end);
  }
  return rows;
}

TEST_F(RecordedTree, PhasesFollowEachOtherInTime) {
  const auto one = report({"--by", "time", "--focus", "phase_one"});
  const auto two = report({"--by", "time", "--focus", "phase_two"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const auto p1 = busy_periods(one.out), p2 = busy_periods(two.out);
  ASSERT_FALSE(p1.empty()) << one.out;
  ASSERT_FALSE(p2.empty()) << two.out;
  // Phase one ends where phase two begins (one period may hold both; rows of the two views may
  // merge periods differently).
  EXPECT_LT(p1.back().first, p2.front().second) << one.out << two.out;
  EXPECT_LT(p1.front().first, p2.front().first) << one.out << two.out;
  const double boundary = p2.front().first;
  // After the boundary's period, no phase one; before it, no phase two.
  const auto after =
      report({"--time", fmt::format("{:.1f}-", p1.back().second), "--sort", "total", "--top", "0"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(has(after.out, "phase_one")) << after.out;
  EXPECT_TRUE(has(after.out, "phase_two")) << after.out;
  const auto before =
      report({"--time", fmt::format("-{:.1f}", boundary), "--sort", "total", "--top", "0"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_FALSE(has(before.out, "phase_two")) << before.out;
  EXPECT_TRUE(has(before.out, "phase_one")) << before.out;
}

// Samples in "Total: N samples, ..." of a report.
long total_samples(const std::string& out) {
  const auto at = out.find("Total: ");
  return at == std::string::npos ? -1 : std::stol(out.substr(at + 7));
}

TEST_F(RecordedTree, PercentWindowsSplitTheSamples) {
  const auto all = report({"--time", "0%-100%"});
  const auto first = report({"--time", "0%-50%"});
  const auto second = report({"--time", "50%-100%"});
  const auto whole = report({});
  for (const auto* r : {&all, &first, &second, &whole}) ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(total_samples(all.out), total_samples(whole.out)) << all.out;
  EXPECT_EQ(total_samples(first.out) + total_samples(second.out), total_samples(whole.out));
  EXPECT_GT(total_samples(first.out), 0);
  EXPECT_GT(total_samples(second.out), 0);
}

TEST_F(RecordedTree, AnnotateShowsTheHotLine) {
  const auto r = report({"--annotate", "spin"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The row with the most samples holds the HOT-LINE marker.
  std::istringstream in(r.out);
  long best = -1;
  std::string best_line;
  for (std::string line; std::getline(in, line);) {
    double share = 0;
    long samples = 0;
    char pct = 0;
    std::istringstream fields(line);
    if (!(fields >> share >> pct >> samples) || pct != '%') continue;
    if (samples > best) {
      best = samples;
      best_line = line;
    }
  }
  EXPECT_TRUE(has(best_line, "HOT-LINE")) << r.out;
  EXPECT_TRUE(has(r.out, "tree.cpp:\n")) << r.out;
}

// A program compiled from a relative path (gcc -g ../src/hot.c, run in build/): its DWARF names
// "../src/hot.c" relative to the compilation directory, so the source is found from any working
// directory, as addr2line finds it, not looked up from where perfscope runs.
TEST(ReportAnnotate, ARelativeSourcePathIsFoundFromAnyDirectory) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  PS_REQUIRE(program("gcc"));
  TempDir dir;
  std::filesystem::create_directories(dir.file("src"));
  std::filesystem::create_directories(dir.file("build"));
  {
    std::ofstream src(dir.file("src/hot.c"));
    src << "#include <stdlib.h>\n"
           "static volatile unsigned long sink;\n"
           "__attribute__((noinline)) static void spin(unsigned long n) {\n"
           "  unsigned long x = 1;\n"
           "  for (unsigned long i = 0; i < n; ++i) x = x * 6364136223846793005UL + (x >> 17);"
           "  /* RELATIVE-HOT */\n"
           "  sink = x;\n"
           "}\n"
           "int main(int argc, char** argv) { spin(strtoul(argv[1], 0, 10)); return 0; }\n";
  }
  const auto cc = run(
      {find_on_path("gcc"), "-g", "-O1", "-fno-omit-frame-pointer", "../src/hot.c", "-o", "hot"},
      {.cwd = dir.file("build")});
  ASSERT_EQ(cc.exit_code, 0) << cc.err;
  const auto rec = run({perfscope_binary(), "record", "--backend", "perf", "-F", "999", "-o",
                        dir.file("hot.pb.gz"), "--", dir.file("build/hot"), "300000000"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto r =
      run({perfscope_binary(), "report", "-i", dir.file("hot.pb.gz"), "--annotate", "spin"},
          {.cwd = "/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "RELATIVE-HOT")) << r.out;
  EXPECT_TRUE(has(r.out, dir.file("src/hot.c"))) << r.out;
}

TEST(ReportDisassembly, FunctionWithoutReadableSourceIsDisassembled) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  PS_REQUIRE(program("objcopy"));
  TempDir dir;
  // A copy without its DWARF (its symbol table kept): no source lines to show, wherever the
  // source tree is, so the code is shown disassembled.
  const std::string busy = dir.file("ps-busy");
  ASSERT_EQ(run({find_on_path("objcopy"), "--strip-debug", target("ps-busy"), busy}).exit_code, 0);
  const auto rec = run({perfscope_binary(), "record", "--backend", "perf", "-F", "999", "-o",
                        dir.file("busy.pb.gz"), "--", busy, "300"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto r = run({perfscope_binary(), "report", "-i", "busy.pb.gz", "--annotate", "hot_inner"},
                     {.cwd = dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Annotated: hot_inner")) << r.out;
  EXPECT_TRUE(has(r.out, "Instruction\n")) << r.out;
  EXPECT_TRUE(has(r.out, "imul")) << r.out;  // the loop's multiply
  EXPECT_TRUE(has(r.out, "ret")) << r.out;   // the whole function, not only sampled instructions
  EXPECT_FALSE(has(r.out, "not disassembled")) << r.out;
}

// perf record -g of ps-tree, read by perfscope: the same caller trees as perf report's.
TEST(ReportPerfTree, CallerTreesAgreeWithPerfReport) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  TempDir dir;
  const std::string perf = find_on_path("perf");
  const auto file = dir.file("tree.data");
  // -B: no build ids collected (perf 6.1's build-id code aborts when perfs run side by side).
  const auto rec = run({perf, "record", "-q", "-B", "-e", "cpu-clock", "-F", "999", "-g", "-o",
                        file, "--", target("ps-tree"), "800"});
  if (rec.exit_code == 128 + 6 && has(rec.err, "build-id.c")) {
    GTEST_SKIP() << "requires a perf record that does not abort (perf 6.1's build-id code): "
                 << rec.err;
  }
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto theirs = run({perf, "report", "-i", file, "-g", "caller", "--stdio", "--sort", "sym"});
  if (theirs.exit_code == 128 + 6 && has(theirs.err, "build-id.c")) {
    GTEST_SKIP() << "requires a perf report that does not abort (perf 6.1's build-id code): "
                 << theirs.err;
  }
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  const Paths perf_tree = parse_perf_tree(theirs.out);
  const auto ours = run({perfscope_binary(), "report", "-i", file, "-g", "caller", "--top", "0"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  const Paths our_tree = parse_our_tree(ours.out);
  int compared = 0;
  for (const auto& [path, pct] : perf_tree) {
    // The target's own functions (perf and perfscope name libc's start-up frames differently).
    if (pct < 1.0 || !(path.starts_with("main") || path.starts_with(kNs))) continue;
    ASSERT_TRUE(our_tree.contains(path)) << path << "\nperf:\n"
                                         << theirs.out << "\nperfscope:\n"
                                         << ours.out;
    EXPECT_NEAR(our_tree.at(path), pct, 1.5) << path << "\nperf:\n"
                                             << theirs.out << "\nperfscope:\n"
                                             << ours.out;
    ++compared;
  }
  // main, both phases, both workers and spin under each.
  EXPECT_GE(compared, 10) << theirs.out;
}

}  // namespace
}  // namespace perfscope
