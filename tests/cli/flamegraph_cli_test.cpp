// perfscope flamegraph as a user runs it: the real binary on a profile written with write_pprof,
// on folded stacks and perf script text from standard input, with --diff, and on bad inputs.
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

constexpr const char* kPerfScript =
    "ps-burn 4242  100.000001:     250000 cpu-clock:ppp: \n"
    "\t            11bc perfscope_targets::burn_a+0x2e (/tmp/burn)\n"
    "\t            1239 perfscope_targets::work+0x15 (/tmp/burn)\n"
    "\t            129d main+0x45 (/tmp/burn)\n"
    "\n"
    "ps-burn 4242  100.000002:     250000 cpu-clock:ppp: \n"
    "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
    "\t            129d main+0x45 (/tmp/burn)\n"
    "\n";

class FlamegraphCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-flamegraph-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(profile::write_pprof(testing::web_and_db().p, file("perfscope.pb.gz")));
    TestProfile before;
    before.add({"main", "parse"}, 20, testing::kWeb);
    before.add({"main", "serve"}, 60, testing::kWeb);
    ASSERT_TRUE(profile::write_pprof(before.p, file("before.pb.gz")));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }

  // perfscope flamegraph ARGS < stdin_file (stdin is /dev/null when empty).
  testing::RunResult flamegraph(std::vector<std::string> args,
                                const std::string& stdin_file = "") const {
    std::string cmd = "exec " + testing::perfscope_binary() + " flamegraph";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " < " + (stdin_file.empty() ? std::string("/dev/null") : file(stdin_file));
    return run({"/bin/sh", "-c", cmd}, {.cwd = dir_});
  }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool exists(const std::string& name) const { return std::filesystem::exists(file(name)); }

  std::string dir_;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(FlamegraphCli, RendersAProfileFileToAnSvgFile) {
  const auto r = flamegraph({"-i", file("perfscope.pb.gz"), "-o", "out.svg", "--title", "Web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  const std::string svg = read(file("out.svg"));
  EXPECT_TRUE(svg.starts_with("<?xml")) << svg.substr(0, 100);
  EXPECT_TRUE(has(svg, ">Web</text>"));
  EXPECT_TRUE(has(svg, "<title>parse (60 samples, 60.00%)</title>")) << svg;
  EXPECT_TRUE(has(svg, "<title>web (80 samples, 80.00%)</title>"));
  EXPECT_TRUE(has(svg, "</svg>\n"));
}

TEST_F(FlamegraphCli, PidFilterStdoutAndFoldedOut) {
  const auto r = flamegraph({"-i", "perfscope.pb.gz", "--pid", "77", "--folded-out", "f.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "data-name=\"query\"")) << r.out.substr(0, 500);
  EXPECT_FALSE(has(r.out, "data-name=\"parse\""));
  EXPECT_EQ(read(file("f.txt")), "db;main;query 20\n");
}

TEST_F(FlamegraphCli, FoldedFromStandardInput) {
  write("in.folded", "app;main;hot 9\napp;main;read_[k] 1\n");
  const auto r = flamegraph({"--colors", "kind", "--inverted", "--width", "900"}, "in.folded");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "width=\"900\""));
  EXPECT_TRUE(has(r.out, ">Icicle Graph</text>"));
  EXPECT_TRUE(has(r.out, "<title>read [kernel] (1 samples, 10.00%)</title>")) << r.out;
}

TEST_F(FlamegraphCli, PerfScriptFromStandardInput) {
  write("perf.txt", kPerfScript);
  const auto r2 = flamegraph({"-i", "-", "-o", "p.svg", "--folded-out", "p.folded"}, "perf.txt");
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(has(read(file("p.svg")), "data-name=\"perfscope_targets::burn_a\""));
  // Each sample weighs its period, as in perf report: 250000 ns of cpu-clock.
  EXPECT_EQ(read(file("p.folded")),
            "ps-burn;main;exc_page_fault_[k] 250000\n"
            "ps-burn;main;perfscope_targets::work;perfscope_targets::burn_a 250000\n");
}

TEST_F(FlamegraphCli, DifferentialAgainstABaseline) {
  const auto r = flamegraph({"-i", "perfscope.pb.gz", "--diff", "before.pb.gz", "-o", "d.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read(file("d.svg"));
  EXPECT_TRUE(has(svg, ">Differential Flame Graph</text>"));
  EXPECT_TRUE(has(svg,
                  "<title>parse (60 samples, 60.00%; +40 samples (+200.00%) vs baseline "
                  "20)</title>"))
      << svg;
  EXPECT_TRUE(has(svg,
                  "<title>serve (20 samples, 20.00%; -40 samples (-66.67%) vs baseline "
                  "60)</title>"));
  const auto n =
      flamegraph({"-i", "perfscope.pb.gz", "--diff", "before.pb.gz", "--normalize", "-o", "n.svg"});
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_TRUE(has(read(file("n.svg")), "vs baseline 25.0)"));
}

TEST_F(FlamegraphCli, SubtitleInTheSvgAndThePage) {
  const auto r =
      flamegraph({"-i", "perfscope.pb.gz", "--subtitle", "build <42> & co", "-o", "s.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(read(file("s.svg")), ">build &lt;42&gt; &amp; co</text>"));
  const auto h =
      flamegraph({"-i", "perfscope.pb.gz", "--subtitle", "build <42> & co", "-o", "s.html"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_TRUE(has(read(file("s.html")), "<p id=\"subtitle\">build &lt;42&gt; &amp; co</p>"));
}

// --baseline-widths: the graph of `flamegraph -i NEW --diff OLD` drawn with OLD's frames, so a
// function that vanished shows at its old width; --negate swaps the hues.
TEST_F(FlamegraphCli, ReversedAndNegatedDifferential) {
  TestProfile old_profile;
  old_profile.add({"main", "parse"}, 20, testing::kWeb);
  old_profile.add({"main", "serve"}, 60, testing::kWeb);
  old_profile.add({"main", "legacy_cache"}, 20, testing::kWeb);
  ASSERT_TRUE(profile::write_pprof(old_profile.p, file("old.pb.gz")));
  const auto r = flamegraph(
      {"-i", "perfscope.pb.gz", "--diff", "old.pb.gz", "--baseline-widths", "-o", "gone.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read(file("gone.svg"));
  EXPECT_TRUE(has(svg, "<title>legacy_cache (baseline 20 samples, 20.00%; gone)</title>")) << svg;
  EXPECT_TRUE(has(svg, "data-name=\"legacy_cache\" data-s=\"0\" data-c=\"20\""));
  EXPECT_FALSE(has(svg, "data-name=\"query\"")) << "only the baseline's frames";
  // Without it, the vanished function is not drawn at all.
  const auto plain = flamegraph({"-i", "perfscope.pb.gz", "--diff", "old.pb.gz", "-o", "p.svg"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(has(read(file("p.svg")), "legacy_cache"));

  const auto n = flamegraph({"-i", "perfscope.pb.gz", "--diff", "old.pb.gz", "--baseline-widths",
                             "--negate", "-o", "neg.svg"});
  ASSERT_EQ(n.exit_code, 0) << n.err;
  const std::string neg = read(file("neg.svg"));
  EXPECT_TRUE(has(neg, "blue grew, red shrank"));
  const std::size_t gone = neg.find("data-name=\"legacy_cache\"");
  ASSERT_NE(gone, std::string::npos);
  EXPECT_TRUE(has(neg.substr(gone, 400), "fill=\"rgb(255,")) << "vanished: red when negated";
}

// --colors module: perfscope profiles know each frame's mapping; one hue per module, and a
// legend naming them.
TEST_F(FlamegraphCli, ColoursByModule) {
  TestProfile p;
  const auto main_ = p.frame("main", "/usr/bin/app");
  const auto work = p.frame("work", "/usr/bin/app");
  const auto malloc_ = p.frame("malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  const auto free_ = p.frame("free", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  p.add_locations({main_, work, malloc_}, 30);
  p.add_locations({main_, work, free_}, 20);
  p.add_locations({main_, work}, 10);
  ASSERT_TRUE(profile::write_pprof(p.p, file("mods.pb.gz")));
  const auto r = flamegraph({"-i", "mods.pb.gz", "--colors", "module", "-o", "m.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read(file("m.svg"));
  EXPECT_TRUE(has(svg, "<g class=\"legend-entry\" data-key=\"libc.so.6\">")) << svg;
  EXPECT_TRUE(has(svg, "<g class=\"legend-entry\" data-key=\"app\">"));
  EXPECT_LT(svg.find("data-key=\"libc.so.6\""), svg.find("data-key=\"app\""))
      << "libc has more self samples";
  const auto again = flamegraph({"-i", "mods.pb.gz", "--colors", "module", "-o", "m2.svg"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(read(file("m2.svg")), svg) << "the same colours on every run";
  const auto h = flamegraph({"-i", "mods.pb.gz", "--colors", "module", "-o", "m.html"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_TRUE(has(read(file("m.html")), "<li data-key=\"libc.so.6\"><span class=\"swatch\""));
}

TEST_F(FlamegraphCli, BadInputsGiveOneClearErrorAndNoOutputFile) {
  struct Case {
    std::vector<std::string> args;
    std::string stdin_text;
    std::string error;
  };
  write("bad.folded", "main;a 1\nmain;b one\n");
  write("cut.txt", "burn 1 1.0: 1 cpu-clock: \n\t 11bc burn_a+0x2e (/tmp/burn)\n\t 1239 wo");
  write("garbage.pb", std::string("\x1f\x8b\x08\x00garbage", 11));
  write("text.txt", "hello world\n");
  const std::vector<Case> cases{
      {{"-i", "bad.folded", "-o", "x.svg"},
       "",
       "perfscope flamegraph: bad.folded:2: the count "
       "'one' is not a whole number\n"},
      {{"-i", "cut.txt", "-o", "x.svg"},
       "",
       "perfscope flamegraph: cut.txt:3: the frame line has "
       "no '(MODULE)' at its end"},
      {{"-i", "garbage.pb", "-o", "x.svg"}, "", "perfscope flamegraph: "},
      {{"-i", "text.txt", "-o", "x.svg"},
       "",
       "perfscope flamegraph: cannot tell what text.txt "
       "holds\n"},
      {{"-i", "missing.pb.gz", "-o", "x.svg"},
       "",
       "perfscope flamegraph: cannot open "
       "missing.pb.gz: No such file or directory\n"},
      {{"-i", "perfscope.pb.gz", "--colors", "rainbow", "-o", "x.svg"},
       "",
       "perfscope flamegraph: unknown colour palette 'rainbow'\n"},
      {{"-i", "perfscope.pb.gz", "--comm", "nobody", "-o", "x.svg"},
       "",
       "perfscope flamegraph: no samples to draw in perfscope.pb.gz\n"},
      {{"-i", "perfscope.pb.gz", "--normalize", "-o", "x.svg"},
       "",
       "perfscope flamegraph: --normalize needs --diff BASELINE\n"},
      {{"-i", "perfscope.pb.gz", "--negate", "-o", "x.svg"},
       "",
       "perfscope flamegraph: --negate needs --diff BASELINE\n"},
      {{"-i", "perfscope.pb.gz", "--baseline-widths", "-o", "x.svg"},
       "",
       "perfscope flamegraph: --baseline-widths needs --diff BASELINE\n"},
      {{"-i", "perfscope.pb.gz", "--width", "5", "-o", "x.svg"},
       "",
       "perfscope flamegraph: width 5 is out of range\n"},
      {{"-i", "bad.folded", "--pid", "1", "-o", "x.svg"},
       "",
       "perfscope flamegraph: bad.folded holds folded stacks, which carry no process ids\n"},
      {{"-i", "perfscope.pb.gz", "--diff", "text.txt", "-o", "x.svg"},
       "",
       "perfscope flamegraph: cannot tell what text.txt holds\n"},
      {{"-o", "x.svg"}, "empty", "perfscope flamegraph: standard input is empty\n"},
  };
  write("empty", "");
  for (const Case& c : cases) {
    const auto r = flamegraph(c.args, c.stdin_text);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.err.starts_with(c.error)) << "got: " << r.err << "\nwanted: " << c.error;
    EXPECT_EQ(r.out, "");
    EXPECT_FALSE(exists("x.svg")) << r.err;
    // One error: the message line and at most a short hint.
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 5) << r.err;
  }
}

// --colors module on perf script text: each frame's "(MODULE)" gives its module, as a
// perfscope profile's mappings do.
TEST_F(FlamegraphCli, ColoursPerfScriptFramesByTheirModule) {
  std::string text;
  for (int i = 0; i < 3; ++i) {
    text +=
        "app 4242  100.000001:     250000 cpu-clock: \n"
        "\t            1a10 malloc+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
        "\t            2b20 work+0x20 (/usr/bin/app)\n"
        "\t            3c30 main+0x30 (/usr/bin/app)\n"
        "\n";
  }
  text +=
      "app 4242  100.000002:     250000 cpu-clock: \n"
      "\t            2b24 work+0x24 (/usr/bin/app)\n"
      "\t            3c30 main+0x30 (/usr/bin/app)\n"
      "\n";
  write("mods.txt", text);
  const auto r = flamegraph({"-i", "mods.txt", "--colors", "module", "-o", "m.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read(file("m.svg"));
  EXPECT_TRUE(has(svg, "<g class=\"legend-entry\" data-key=\"libc.so.6\">")) << svg;
  EXPECT_TRUE(has(svg, "<g class=\"legend-entry\" data-key=\"app\">")) << svg;
  EXPECT_LT(svg.find("data-key=\"libc.so.6\""), svg.find("data-key=\"app\""))
      << "libc has more self samples";
}

}  // namespace
}  // namespace perfscope
