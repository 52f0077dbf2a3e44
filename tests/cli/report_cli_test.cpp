// perfscope report as a user runs it: a profile written with the library (and the other formats
// it reads), the real binary reading it. Needs no kernel access.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "profile/profile.hpp"
#include "support/run.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope {
namespace {

using testing::run;
using testing::TestProfile;

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-report-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Two processes on two CPUs; "parse" calls memcpy, which is in libc.
    TestProfile t;
    const auto& web = testing::kWeb;
    const auto& db = testing::kDb;
    const auto memcpy_loc = t.frame("memcpy", "/usr/lib/x86_64-linux-gnu/libc.so.6");
    t.add_locations({t.frame("main"), t.frame("parse"), memcpy_loc}, 60, web);
    t.add({"main", "parse"}, 20, web);
    t.add({"main", "serve"}, 10, web);
    t.add({"main", "query"}, 10, db);
    t.p.duration_nanos = 2'500'000'000;
    t.p.add_comment("perfscope: lost 3 samples");
    ASSERT_TRUE(profile::write_pprof(t.p, file("perfscope.pb.gz")));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  testing::RunResult report(std::vector<std::string> args) const {
    args.insert(args.begin(), {testing::perfscope_binary(), "report"});
    return run(args, {.cwd = dir_});
  }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(ReportCli, DefaultReportReadsPerfscopePbGz) {
  const auto r = report({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(has(r.out, "Profile: perfscope.pb.gz\n")) << r.out;
  EXPECT_TRUE(has(r.out, "Total: 100 samples, 1.000 s cpu\n")) << r.out;
  EXPECT_TRUE(has(r.out, "Lost: 3 samples")) << r.out;
  EXPECT_TRUE(has(r.out, "Duration: 2.500 s\n")) << r.out;
  EXPECT_TRUE(has(r.out, "Period: 10000000 nanoseconds of cpu\n")) << r.out;
  EXPECT_TRUE(has(r.out,
                  "Hottest functions, by self (5):\n"
                  "  Self%  Total%   Self  Total  Function\n"
                  " 60.00%  60.00%     60     60  memcpy\n"
                  " 20.00%  80.00%     20     80  parse\n"
                  " 10.00%  10.00%     10     10  query\n"
                  " 10.00%  10.00%     10     10  serve\n"
                  "  0.00% 100.00%      0    100  main\n"))
      << r.out;
  EXPECT_TRUE(has(r.out,
                  "Processes (2):\n"
                  "  Share  Count  Process\n"
                  " 90.00%     90  web (42)\n"
                  " 10.00%     10  db (77)\n"))
      << r.out;
  EXPECT_TRUE(has(r.out,
                  "CPUs (2):\n"
                  "  Share  Count  CPU\n"
                  " 90.00%     90  cpu 0\n"
                  " 10.00%     10  cpu 1\n"))
      << r.out;
}

TEST_F(ReportCli, SortTotalAndTop) {
  const auto r = report({"-i", file("perfscope.pb.gz"), "--sort", "total", "--top", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out,
                  "Hottest functions, by total (top 2 of 5):\n"
                  "  Self%  Total%   Self  Total  Function\n"
                  "  0.00% 100.00%      0    100  main\n"
                  " 20.00%  80.00%     20     80  parse\n\n"))
      << r.out;
}

TEST_F(ReportCli, ByModule) {
  const auto r = report({"--by", "module"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, " 60.00%  60.00%     60     60  libc.so.6\n")) << r.out;
  EXPECT_TRUE(has(r.out, " 40.00% 100.00%     40    100  app\n")) << r.out;
}

TEST_F(ReportCli, ByProcessHasNoSecondProcessTable) {
  const auto r = report({"--by", "process"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Hottest processes, by self (2):\n")) << r.out;
  EXPECT_FALSE(has(r.out, "\nProcesses (")) << r.out;
  EXPECT_TRUE(has(r.out, "\nCPUs (2):")) << r.out;
}

TEST_F(ReportCli, PidFilterLimitsTablesAndPercentages) {
  const auto r = report({"--pid", "77", "--by", "cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Filter: pid 77: 10 samples (10.0%)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "100.00%     10  cpu 1\n")) << r.out;
  EXPECT_FALSE(has(r.out, "web")) << r.out;
}

TEST_F(ReportCli, CommFilter) {
  const auto r = report({"--comm", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, " 66.67%  66.67%     60     60  memcpy\n")) << r.out;
  EXPECT_FALSE(has(r.out, "query")) << r.out;
}

TEST_F(ReportCli, FoldedToStandardOutput) {
  const auto r = report({"--folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "db;main;query 10\n"
            "web;main;parse 20\n"
            "web;main;parse;memcpy 60\n"
            "web;main;serve 10\n");
  const auto no_comm = report({"--folded", "--no-comm", "--pid", "77"});
  EXPECT_EQ(no_comm.out, "main;query 10\n");
}

TEST_F(ReportCli, FoldedToAFile) {
  const auto r = report({"--folded", "-o", file("out.folded")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read(file("out.folded")),
            "db;main;query 10\nweb;main;parse 20\nweb;main;parse;memcpy 60\nweb;main;serve 10\n");
  const auto table = report({"-o", file("table.txt")});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(has(read(file("table.txt")), "Hottest functions"));
}

// report reads what convert and flamegraph read: perf script text (its COMMs are processes),
// folded stacks and speedscope files, gzipped or not, told apart by content.
TEST_F(ReportCli, ReadsEveryInputFormat) {
  std::ofstream(file("perf.txt")) << "ps-burn 4242  100.000001:     250000 cpu-clock:ppp: \n"
                                     "\t            11bc burn_a+0x2e (/tmp/burn)\n"
                                     "\t            129d main+0x45 (/tmp/burn)\n"
                                     "\n"
                                     "ps-sort 4343  100.000002:     250000 cpu-clock:ppp: \n"
                                     "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
                                     "\t            129d main+0x45 (/tmp/sort)\n";
  // Samples weigh their periods (cpu-clock: nanoseconds), the sample counts come second.
  auto r = report({"-i", "perf.txt", "--comm", "ps-sort"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Total: 0.001 s cpu, 2 samples\n")) << r.out;
  EXPECT_TRUE(has(r.out, "Filter: comm 'ps-sort': 0.000 s cpu (50.0%)")) << r.out;
  r = report({"-i", "perf.txt", "--comm", "ps-sort", "--sample-type", "samples"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Filter: comm 'ps-sort': 1 samples (50.0%)")) << r.out;
  EXPECT_TRUE(has(r.out, "100.00% 100.00%      1      1  exc_page_fault\n")) << r.out;

  const auto folded = report({"--folded", "-o", "all.folded"});
  ASSERT_EQ(folded.exit_code, 0) << folded.err;
  ASSERT_EQ(run({"/bin/sh", "-c", "gzip -k all.folded"}, {.cwd = dir_}).exit_code, 0);
  const auto speedscope = run({testing::perfscope_binary(), "convert", "-i", "perfscope.pb.gz",
                               "-o", "all.speedscope.json"},
                              {.cwd = dir_});
  ASSERT_EQ(speedscope.exit_code, 0) << speedscope.err;
  for (const char* input : {"all.folded", "all.folded.gz", "all.speedscope.json"}) {
    r = report({"-i", input, "--top", "1"});
    ASSERT_EQ(r.exit_code, 0) << input << ": " << r.err;
    EXPECT_TRUE(has(r.out, "Total: 100 samples\n")) << input << ":\n" << r.out;
    EXPECT_TRUE(has(r.out, " 60.00%  60.00%     60     60  memcpy\n")) << input << ":\n" << r.out;
  }
}

TEST_F(ReportCli, MissingFileSaysHowToMakeOne) {
  const auto r = report({"-i", file("absent.pb.gz"), "--folded", "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "perfscope report: cannot open " + file("absent.pb.gz") +
                             ": No such file or directory\n"))
      << r.err;
  EXPECT_TRUE(has(r.err, "perfscope record")) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(std::filesystem::exists(file("out")));
}

TEST_F(ReportCli, NotAProfileAndCorruptGzip) {
  std::ofstream(file("text.txt")) << "hello world\n";
  auto r = report({"-i", file("text.txt"), "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "perfscope report: cannot tell what " + file("text.txt") + " holds\n"))
      << r.err;
  std::string gz = read(file("perfscope.pb.gz"));
  std::ofstream(file("cut.pb.gz")) << gz.substr(0, gz.size() / 2);
  r = report({"-i", file("cut.pb.gz"), "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "the gzip data ends early (truncated file)")) << r.err;
  EXPECT_TRUE(has(r.err, "record it again")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file("out")));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator{}),
            3)
      << "no temporary output file left behind";
}

TEST_F(ReportCli, UnknownByAndSortValues) {
  auto r = report({"--by", "colour", "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "perfscope report: cannot group by 'colour'\n"
            "  choose one of: function, line, module, process, cpu, state, thread, time\n");
  r = report({"--sort", "alphabetical"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "perfscope report: cannot sort by 'alphabetical'\n")) << r.err;
  EXPECT_TRUE(has(r.err, "choose self")) << r.err;
  r = report({"--pid", "12x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "invalid pid '12x'")) << r.err;
  r = report({"--pid", "77,"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "invalid pid ''")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file("out")));
}

TEST_F(ReportCli, FilterMatchingNothingNamesTheProcesses) {
  const auto r = report({"--pid", "5", "--folded", "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "perfscope report: no samples of pid 5 in perfscope.pb.gz\n")) << r.err;
  EXPECT_TRUE(has(r.err, "processes in the profile: web (42), db (77)")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file("out")));
  const auto comm = report({"--comm", "nginx"});
  EXPECT_EQ(comm.exit_code, 1);
  EXPECT_TRUE(has(comm.err, "no samples of comm 'nginx'")) << comm.err;
}

// A profile with source lines: run (src/app.cpp:40) calls step, which has helper (src/util.hpp:12)
// inlined at src/app.cpp:21 (70 samples) and spends 20 samples at src/app.cpp:25 itself; 10
// samples are in a function the profile has no line for.
void write_lines_profile(const std::string& path) {
  TestProfile t;
  const auto m = t.mapping("/usr/bin/app");
  auto location = [&](std::vector<profile::Line> lines) {
    const std::uint64_t address = t.p.mapping(m).start + 0x10 * (t.p.locations().size() + 1);
    return t.p.add_location({m, address, std::move(lines)});
  };
  const auto run_fn = t.p.add_function("run", "_Z3runv", "src/app.cpp", 38);
  const auto step = t.p.add_function("step", "_Z4stepv", "src/app.cpp", 20);
  const auto helper = t.p.add_function("helper", "_Z6helperv", "src/util.hpp", 10);
  const auto opaque = t.p.add_function("opaque", "_Z6opaquev", "", 0);
  const auto run_loc = location({{run_fn, 40}});
  t.add_locations({run_loc, location({{helper, 12}, {step, 21}})}, 70);
  t.add_locations({run_loc, location({{step, 25}})}, 20);
  t.add_locations({run_loc, location({{opaque, 0}})}, 10);
  ASSERT_TRUE(profile::write_pprof(t.p, path));
}

TEST_F(ReportCli, LinesGroupsBySourcePosition) {
  write_lines_profile(file("lines.pb.gz"));
  const auto r = report({"-i", file("lines.pb.gz"), "--lines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(has(r.out,
                  "Hottest source lines, by self (5):\n"
                  "  Self%  Total%   Self  Total  Source line\n"
                  " 70.00%  70.00%     70     70  src/util.hpp:12 helper (inlined)\n"
                  " 20.00%  20.00%     20     20  src/app.cpp:25 step\n"
                  " 10.00%  10.00%     10     10  opaque (no line info)\n"
                  "  0.00% 100.00%      0    100  src/app.cpp:40 run\n"
                  "  0.00%  70.00%      0     70  src/app.cpp:21 step\n\n"))
      << r.out;
  const auto by_line = report({"-i", file("lines.pb.gz"), "--by", "line"});
  ASSERT_EQ(by_line.exit_code, 0) << by_line.err;
  EXPECT_EQ(by_line.out, r.out);
  const auto both = report({"-i", file("lines.pb.gz"), "--by", "line", "--lines"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, r.out);
  const auto top = report({"-i", file("lines.pb.gz"), "--lines", "--sort", "total", "--top", "1"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  EXPECT_TRUE(has(top.out,
                  "Hottest source lines, by total (top 1 of 5):\n"
                  "  Self%  Total%   Self  Total  Source line\n"
                  "  0.00% 100.00%      0    100  src/app.cpp:40 run\n\n"))
      << top.out;
}

TEST_F(ReportCli, InlinedFunctionsAreMarked) {
  write_lines_profile(file("lines.pb.gz"));
  const auto r = report({"-i", file("lines.pb.gz")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out,
                  "Hottest functions, by self (4):\n"
                  "  Self%  Total%   Self  Total  Function\n"
                  " 70.00%  70.00%     70     70  helper (inlined)\n"
                  " 20.00%  90.00%     20     90  step\n"
                  " 10.00%  10.00%     10     10  opaque\n"
                  "  0.00% 100.00%      0    100  run\n"))
      << r.out;
}

TEST_F(ReportCli, LinesAndAnotherByAreRefused) {
  const auto r = report({"--lines", "--by", "module", "-o", file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "perfscope report: --lines cannot be combined with --by module\n"
            "  --lines is short for --by line; give one of them\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(std::filesystem::exists(file("out")));
  const auto explicit_function = report({"--by", "function", "--lines"});
  EXPECT_EQ(explicit_function.exit_code, 1);
  EXPECT_TRUE(has(explicit_function.err, "--lines cannot be combined with --by function"))
      << explicit_function.err;
}

TEST_F(ReportCli, HelpDescribesLines) {
  const auto r = report({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "--lines")) << r.out;
  EXPECT_TRUE(has(r.out, "(inlined)")) << r.out;
  EXPECT_TRUE(has(r.out, "perfscope report --lines --top 10")) << r.out;
}

TEST_F(ReportCli, EmptyProfileIsReportedAsSuch) {
  TestProfile empty;
  ASSERT_TRUE(profile::write_pprof(empty.p, file("empty.pb.gz")));
  const auto r = report({"-i", file("empty.pb.gz")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Total: 0 samples, 0.000 s cpu\n")) << r.out;
  EXPECT_TRUE(has(r.out, "The profile holds no samples.\n")) << r.out;
}

}  // namespace
}  // namespace perfscope
