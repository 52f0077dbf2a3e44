// perfscope convert as a user runs it: the real binary between pprof, folded stacks and speedscope
// JSON in each direction (files and standard input/output), perf script text in, damaged inputs
// (one error naming the problem and the fix, exit 1, no output file), and outputs that cannot be
// written (a missing directory, a full device, a write cut off by the file size limit halfway):
// the named file is left as it was and no temporary stays behind. Also `perfscope flamegraph` on
// the same formats: speedscope JSON in, the HTML page out.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

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

constexpr const char* kFolded =
    "db;main;query 20\n"
    "web;main;parse 60\n"
    "web;main;serve 20\n";

class ConvertCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-convert-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(profile::write_pprof(testing::web_and_db().p, file("in.pb.gz")));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }
  std::string read(const std::string& name) const { return read_file(file(name)); }
  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool exists(const std::string& name) const { return std::filesystem::exists(file(name)); }
  // Every file in the directory, sorted (to see that no temporary was left behind).
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // `prefix` runs in the shell first (ulimit, trap); stdin is /dev/null unless named.
  testing::RunResult convert(std::vector<std::string> args, const std::string& stdin_file = "",
                             const std::string& prefix = "") const {
    std::string cmd = prefix + "exec " + testing::perfscope_binary() + " convert";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " < " + (stdin_file.empty() ? std::string("/dev/null") : file(stdin_file));
    return run({"/bin/sh", "-c", cmd}, {.cwd = dir_});
  }

  // Exit 1, nothing on stdout, and on stderr one error line starting `first`, then at most an
  // indented hint.
  static void expect_one_error(const testing::RunResult& r, const std::string& first) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.err.starts_with("perfscope convert: " + first)) << r.err;
    std::istringstream lines(r.err);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) EXPECT_TRUE(line.starts_with("  ")) << r.err;
    EXPECT_EQ(r.out, "");
  }

  std::string dir_;
};

TEST_F(ConvertCli, PprofToSpeedscopeAndBackKeepsStacksAndCounts) {
  auto r = convert({"-i", "in.pb.gz", "-o", "app.speedscope.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string json = read("app.speedscope.json");
  EXPECT_TRUE(
      json.starts_with("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\""))
      << json;
  EXPECT_NE(json.find("\"name\":\"in.pb.gz\""), std::string::npos);
  EXPECT_NE(json.find("\"weights\":[20,60,20]"), std::string::npos) << json;

  r = convert({"-i", "app.speedscope.json", "-o", "back.pb.gz"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = convert({"-i", "back.pb.gz", "-o", "back.folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read("back.folded"), kFolded);
  r = convert({"-i", "app.speedscope.json", "-o", "direct.folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read("direct.folded"), kFolded);
  // perfscope report reads the converted profile.
  const auto report = run({testing::perfscope_binary(), "report", "-i", file("back.pb.gz")});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("Total: 100 samples"), std::string::npos) << report.out;
}

TEST_F(ConvertCli, FoldedToPprofAndSpeedscope) {
  write("in.folded", kFolded);
  auto r = convert({"-i", "in.folded", "-o", "out.pb.gz"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read("out.pb.gz").starts_with("\x1f\x8b")) << "gzipped pprof";
  r = convert({"-i", "out.pb.gz", "--to", "folded", "-o", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kFolded);
  r = convert({"-i", "in.folded", "-o", "out.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read("out.json").find("\"type\":\"sampled\""), std::string::npos);
}

TEST_F(ConvertCli, StandardInputIsDetectedByContent) {
  const auto json = convert({"-i", "in.pb.gz", "--to", "speedscope"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  write("piped.json", json.out);
  const auto r = convert({"--to", "folded"}, "piped.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kFolded);
  // pprof on standard output, read back from standard input.
  const auto pb = convert({"-i", "in.pb.gz", "--to", "pprof", "-o", "-"});
  ASSERT_EQ(pb.exit_code, 0) << pb.err;
  write("piped.pb.gz", pb.out);
  EXPECT_EQ(convert({"-i", "-", "--to", "folded"}, "piped.pb.gz").out, kFolded);
}

TEST_F(ConvertCli, PerfScriptIn) {
  write("perf.txt",
        "ps-burn 4242  100.000001:     250000 cpu-clock:ppp: \n"
        "\t            11bc perfscope_targets::burn_a+0x2e (/tmp/burn)\n"
        "\t            129d main+0x45 (/tmp/burn)\n"
        "\n"
        "ps-burn 4242  100.000002:     250000 cpu-clock:ppp: \n"
        "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
        "\t            129d main+0x45 (/tmp/burn)\n"
        "\n");
  const auto r = convert({"-i", "perf.txt", "-o", "perf.speedscope.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string json = read("perf.speedscope.json");
  EXPECT_NE(json.find("{\"name\":\"exc_page_fault\",\"file\":\"[kernel.kallsyms]\"}"),
            std::string::npos)
      << json;
  // Weighed by period, as perf report does: cpu-clock's periods are nanoseconds.
  EXPECT_NE(json.find("\"unit\":\"nanoseconds\""), std::string::npos) << json;
  const auto folded = convert({"-i", "perf.speedscope.json", "--to", "folded"});
  EXPECT_EQ(folded.out,
            "ps-burn;main;exc_page_fault 250000\nps-burn;main;perfscope_targets::burn_a 250000\n");
  const auto samples = convert({"-i", "perf.txt", "--sample-type", "samples", "--to", "folded"});
  EXPECT_EQ(samples.out,
            "ps-burn;main;exc_page_fault 1\nps-burn;main;perfscope_targets::burn_a 1\n");
}

// --sample-type, as report and flamegraph take it: the type folded and speedscope output count,
// and the default type of pprof output, which keeps every type. perf script text has two: the
// samples, and their periods (the default).
TEST_F(ConvertCli, SampleTypeChoosesWhatIsWritten) {
  write("perf.txt",
        "app 100 [000] 10.000001:          1 cycles:u: \n"
        "\t    401000 a+0x10 (/opt/app)\n"
        "\n"
        "app 100 [000] 10.000002:         99 cycles:u: \n"
        "\t    403000 b+0x8 (/opt/app)\n");
  EXPECT_EQ(convert({"-i", "perf.txt", "--to", "folded"}).out, "app;a 1\napp;b 99\n");
  for (const char* samples : {"samples", "0"}) {
    const auto r = convert({"-i", "perf.txt", "--sample-type", samples, "--to", "folded"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "app;a 1\napp;b 1\n") << samples;
  }
  auto r = convert({"-i", "perf.txt", "--sample-type", "samples", "-o", "s.speedscope.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read("s.speedscope.json").find("\"weights\":[1,1]"), std::string::npos)
      << read("s.speedscope.json");

  // pprof keeps both types; the one asked for is the default the next reader counts.
  r = convert({"-i", "perf.txt", "--sample-type", "samples", "-o", "s.pb.gz"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(convert({"-i", "s.pb.gz", "--to", "folded"}).out, "app;a 1\napp;b 1\n");
  EXPECT_EQ(convert({"-i", "s.pb.gz", "--sample-type", "cycles", "--to", "folded"}).out,
            "app;a 1\napp;b 99\n");

  expect_one_error(convert({"-i", "perf.txt", "--sample-type", "bytes", "-o", "out.folded"}),
                   "perf.txt has no sample type \"bytes\"; it has: samples, cycles\n");
  EXPECT_FALSE(exists("out.folded"));
}

// --annotate: folded output marks kernel, JIT and inlined frames as stackcollapse-perf.pl --all
// does, report --folded and convert alike, and the flame graph drawn from that text colours the
// frames by kind exactly as the one drawn from the profile itself.
TEST_F(ConvertCli, AnnotatedFoldedKeepsFrameKindsThroughAFlameGraph) {
  TestProfile t;
  t.add_locations({t.frame("main"), t.inlined({"inner", "outer"}),
                   t.frame("entry_SYSCALL_64", "[kernel.kallsyms]")},
                  6, testing::kWeb);
  t.add_locations({t.frame("main"), t.frame("LazyCompile:*fib", "/tmp/perf-42.map")}, 3,
                  testing::kWeb);
  ASSERT_TRUE(profile::write_pprof(t.p, file("kinds.pb.gz")));
  const std::string annotated =
      "web;main;LazyCompile:*fib_[j] 3\n"
      "web;main;outer;inner_[i];entry_SYSCALL_64_[k] 6\n";
  auto r = convert({"-i", "kinds.pb.gz", "--annotate", "-o", "kinds.folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read("kinds.folded"), annotated);
  const auto report = run(
      {testing::perfscope_binary(), "report", "-i", file("kinds.pb.gz"), "--folded", "--annotate"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_EQ(report.out, annotated);
  // Without the flag, names only.
  EXPECT_EQ(convert({"-i", "kinds.pb.gz", "--to", "folded"}).out,
            "web;main;LazyCompile:*fib 3\nweb;main;outer;inner;entry_SYSCALL_64 6\n");
  // Read back, the suffixes are kinds again: converting the annotated text gives it back.
  EXPECT_EQ(convert({"-i", "kinds.folded", "--annotate", "--to", "folded"}).out, annotated);

  auto svg = [&](const std::string& input, const std::string& out) {
    const auto f = run({testing::perfscope_binary(), "flamegraph", "-i", file(input), "--colors",
                        "kind", "--title", "kinds", "-o", file(out)});
    EXPECT_EQ(f.exit_code, 0) << f.err;
    return read(out);
  };
  const std::string from_profile = svg("kinds.pb.gz", "p.svg");
  ASSERT_FALSE(from_profile.empty());
  EXPECT_EQ(svg("kinds.folded", "f.svg"), from_profile);

  expect_one_error(convert({"-i", "kinds.pb.gz", "--annotate", "-o", "x.speedscope.json"}),
                   "--annotate marks frames in folded output only\n");
  EXPECT_FALSE(exists("x.speedscope.json"));
}

TEST_F(ConvertCli, DamagedInputIsOneErrorAndNoOutput) {
  write("garbage.txt", "this is not a profile\n");
  expect_one_error(convert({"-i", "garbage.txt", "-o", "out.folded"}),
                   "cannot tell what garbage.txt holds\n");
  write("empty.txt", "");
  expect_one_error(convert({"-i", "empty.txt", "-o", "out.folded"}), "empty.txt is empty\n");
  write("cut.json", "{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\n\"profiles\":[{\"type\":\"samp");
  expect_one_error(convert({"-i", "cut.json", "-o", "out.pb.gz"}),
                   "cut.json:2:26: the file ends inside a string\n"
                   "  the file was cut short or is not complete JSON\n");
  write(
      "index.json",
      R"({"shared":{"frames":[]},"profiles":[{"type":"sampled","samples":[[0]],"weights":[1]}]})");
  expect_one_error(convert({"-i", "index.json", "-o", "out.folded"}),
                   "index.json: profile 1 refers to frame 0, but shared.frames has 0\n");
  const std::string pb = read("in.pb.gz");
  write("cut.pb.gz", pb.substr(0, pb.size() / 2));
  expect_one_error(convert({"-i", "cut.pb.gz", "-o", "out.json"}), "cut.pb.gz: ");
  write("bad.folded", "main;a 1\nmain;b x1\n");
  expect_one_error(convert({"-i", "bad.folded", "-o", "out.json"}), "bad.folded:2: ");
  expect_one_error(convert({"-i", "missing.pb.gz", "-o", "out.json"}),
                   "cannot open missing.pb.gz: No such file or directory\n");
  for (const char* out : {"out.folded", "out.pb.gz", "out.json"}) EXPECT_FALSE(exists(out)) << out;
  for (const auto& name : listing()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

TEST_F(ConvertCli, UsageErrors) {
  expect_one_error(convert({"-i", "in.pb.gz", "-o", "out.svg"}),
                   "cannot tell the output format from the name out.svg\n"
                   "  name the output *.pb.gz (pprof), *.folded (folded stacks) or "
                   "*.speedscope.json (speedscope), or give --to pprof|folded|speedscope\n");
  expect_one_error(convert({"-i", "in.pb.gz"}), "writing to standard output needs --to\n");
  expect_one_error(convert({"-i", "in.pb.gz", "--to", "svg"}), "unknown output format 'svg'\n");
  EXPECT_FALSE(exists("out.svg"));
}

TEST_F(ConvertCli, UnwritableOutputLeavesNothing) {
  expect_one_error(convert({"-i", "in.pb.gz", "-o", "no/such/dir/out.folded"}),
                   "cannot create output file no/such/dir/out.folded: No such file or directory\n");
  expect_one_error(convert({"-i", "in.pb.gz", "-o", "no/such/dir/out.pb.gz"}),
                   "cannot create output file no/such/dir/out.pb.gz: No such file or directory\n");
  const auto full = convert({"-i", "in.pb.gz", "--to", "speedscope", "-o", "/dev/full"});
  expect_one_error(full, "cannot write output file /dev/full: No space left on device\n");

  // A write that fails halfway (the file size limit: 1 block of 512 bytes; SIGXFSZ ignored so
  // write() returns EFBIG): the existing file keeps its content and no temporary stays.
  std::string big;
  for (int i = 0; i < 200; ++i) big += "app;main;function_number_" + std::to_string(i) + " 1\n";
  write("big.folded", big);
  for (const char* out : {"old.speedscope.json", "old.pb.gz", "old.folded"}) {
    write(out, "previous content\n");
    const auto before = listing();
    const auto r = convert({"-i", "big.folded", "-o", out}, "", "trap '' XFSZ; ulimit -f 1; ");
    EXPECT_EQ(r.exit_code, 1) << out << ": " << r.err;
    EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
    EXPECT_EQ(read(out), "previous content\n") << out;
    EXPECT_EQ(listing(), before) << out;
  }
}

TEST_F(ConvertCli, ReplacesTheInputInPlace) {
  write("same.folded", kFolded);
  const auto r = convert({"-i", "same.folded", "-o", "same.folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read("same.folded"), kFolded);
}

// One detection for every command (issue 19): a folded file whose first stack is longer than the
// 64 KiB that used to decide the format is read by convert, flamegraph and report alike.
TEST_F(ConvertCli, AFirstStackLongerThan64KiBIsReadByEveryCommand) {
  const std::string input =
      std::string(PERFSCOPE_TEST_DATA) + "/hostile/folded_first_line_over_64KiB.folded";
  auto r = convert({"-i", input, "--to", "folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(input));
  const auto in_every = [&](const std::string& command, std::vector<std::string> args) {
    args.insert(args.begin(), {testing::perfscope_binary(), command, "-i", input});
    return run(args, {.cwd = dir_});
  };
  r = in_every("flamegraph", {"-o", "deep.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read("deep.svg").find("<title>f49 (5 samples, 100.00%)</title>"), std::string::npos);
  r = in_every("report", {"--top", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Total: 5 samples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("100.00% 100.00%      5      5  f49"), std::string::npos) << r.out;
}

// An input that never ends and holds no profile (issue 19: `-i /dev/zero` read until memory ran
// out): one clear error, after reading a bounded amount.
TEST_F(ConvertCli, DevZeroIsRefusedWithBoundedMemory) {
  if (::access("/usr/bin/time", X_OK) != 0) GTEST_SKIP() << "needs GNU time (apt-get install time)";
  // GNU time's "%M": the peak resident set in KiB, on the last line of standard error.
  auto peak_of = [](const std::string& err) {
    return std::stol(err.substr(err.find_last_of('\n', err.size() - 2) + 1));
  };
  // What the binary itself takes before reading anything (about 10 MiB, over 200 MiB under ASan):
  // reading /dev/zero may add at most 64 MiB to it.
  const long baseline =
      peak_of(run({"/usr/bin/time", "-f", "%M", testing::perfscope_binary(), "--help"}).err);
  for (const char* command : {"convert", "flamegraph", "report"}) {
    const auto r = run({"/usr/bin/time", "-f", "%M", testing::perfscope_binary(), command, "-i",
                        "/dev/zero", "-o", file("out.folded")},
                       {.cwd = dir_});
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_TRUE(
        r.err.starts_with(fmt::format("perfscope {}: cannot tell what /dev/zero holds\n", command)))
        << r.err;
    EXPECT_LT(peak_of(r.err), baseline + 64 * 1024)
        << command << ": peak RSS " << peak_of(r.err) << " KiB, " << baseline << " KiB for --help";
    EXPECT_FALSE(exists("out.folded"));
  }
}

// A failed write is one error and a failed exit, whether to a file or to standard output (issue
// 19: `report > /dev/full` exited 0 with the output lost).
TEST_F(ConvertCli, WriteErrorsFailWithOneMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::string in = file("in.pb.gz");
  const std::vector<Case> cases{
      {{"report", "-i", in, "-o", "/dev/full"}, "cannot write output file /dev/full"},
      {{"report", "-i", in, "--folded", "-o", "/dev/full"}, "cannot write output file /dev/full"},
      {{"report", "-i", in}, "cannot write to standard output"},
      {{"report", "-i", in, "--folded"}, "cannot write to standard output"},
      {{"convert", "-i", in, "--to", "folded", "-o", "-"}, "cannot write to standard output"},
      {{"convert", "-i", in, "--to", "pprof", "-o", "-"}, "cannot write to standard output"},
      {{"flamegraph", "-i", in}, "cannot write to standard output"},
  };
  for (const Case& c : cases) {
    std::string cmd = "exec " + testing::perfscope_binary();
    for (const auto& a : c.args) cmd += " '" + a + "'";
    const auto r = run({"/bin/sh", "-c", cmd + " > /dev/full"}, {.cwd = dir_});
    const std::string expected =
        "perfscope " + c.args[0] + ": " + c.error + ": No space left on device\n";
    EXPECT_EQ(r.exit_code, 1) << cmd << "\n" << r.err;
    EXPECT_EQ(r.err, expected) << cmd;
  }
}

// The other ends of the same formats in `perfscope flamegraph`: speedscope JSON in, the HTML page
// out (the browser test drives the page itself).
TEST_F(ConvertCli, FlamegraphReadsSpeedscopeAndWritesHtml) {
  ASSERT_EQ(convert({"-i", "in.pb.gz", "-o", "in.speedscope.json"}).exit_code, 0);
  const auto flamegraph = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::perfscope_binary(), "flamegraph"});
    return run(args, {.cwd = dir_});
  };
  auto r = flamegraph({"-i", "in.speedscope.json", "-o", "from-speedscope.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read("from-speedscope.svg").find("<title>parse (60 samples, 60.00%)</title>"),
            std::string::npos);

  r = flamegraph({"-i", "in.pb.gz", "-o", "page.html", "--title", "Web & DB"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string html = read("page.html");
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n")) << html.substr(0, 100);
  EXPECT_NE(html.find("<h1>Web &amp; DB</h1>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"name\">parse</td><td class=\"num\" data-v=\"60\">60</td>"),
            std::string::npos);
  EXPECT_EQ(html.find("<td class=\"name\">web</td>"), std::string::npos)
      << "process names are not functions";
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);

  r = flamegraph({"-i", "in.pb.gz", "--format", "html", "--inverted"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("<!DOCTYPE html>"));
  EXPECT_LT(r.out.find("id=\"icicle\""), r.out.find("id=\"flame\""));

  r = flamegraph({"-i", "in.pb.gz", "-o", "diff.html", "--diff", "in.pb.gz"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "perfscope flamegraph: --diff draws an SVG only\n"
            "  write the differential flame graph to a .svg file\n");
  r = flamegraph({"-i", "in.speedscope.json", "--pid", "42", "-o", "pid.svg"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(
      r.err.starts_with("perfscope flamegraph: in.speedscope.json is a speedscope file, "
                        "which carries no process ids\n"))
      << r.err;
  r = flamegraph({"-i", "in.pb.gz", "--format", "png"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.starts_with("perfscope flamegraph: unknown output format 'png'\n")) << r.err;
  for (const char* name : {"diff.html", "pid.svg"}) EXPECT_FALSE(exists(name)) << name;
}

}  // namespace
}  // namespace perfscope
