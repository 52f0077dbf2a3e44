// perf script text through the real binary: every command weighs a sample by its PERIOD, as
// perf report and stackcollapse-perf.pl do, and `--sample-type samples` counts samples instead.
// tests/data/perf_script/periods_unequal.txt is hand-made so the two disagree by 71 points: `a`
// has 3 cycles samples of periods 1, 1 and 2, `b` one of period 96 (96% of the cycles, 25% of the
// samples); an instructions sample between them is skipped with a note.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::run;

const std::string kUnequal = std::string(PERFSCOPE_TEST_DATA) + "/perf_script/periods_unequal.txt";

class PerfScriptCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-perf-script-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string read(const std::string& name) const {
    std::ifstream in(file(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  testing::RunResult perfscope(std::vector<std::string> args) const {
    args.insert(args.begin(), testing::perfscope_binary());
    return run(args, {.cwd = dir_});
  }

  std::string dir_;
};

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The skipped instructions sample is named on stderr, once.
void expect_skipped_note(const testing::RunResult& r, const std::string& cmd) {
  EXPECT_EQ(count(r.err, "were skipped"), 1u) << r.err;
  EXPECT_NE(r.err.find("perfscope " + cmd + ": " + kUnequal +
                       ": read the samples of cycles:u only, the first event; 1 samples of "
                       "instructions:u were skipped"),
            std::string::npos)
      << r.err;
}

TEST_F(PerfScriptCli, ReportWeighsByPeriodAndCountsSamplesWhenAsked) {
  const auto r = perfscope({"report", "-i", kUnequal});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_skipped_note(r, "report");
  EXPECT_NE(r.out.find("Total: 100 cycles, 4 samples\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 96.00%  96.00%     96     96  b\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  4.00%   4.00%      4      4  a\n"), std::string::npos) << r.out;

  const auto s = perfscope({"report", "-i", kUnequal, "--sample-type", "samples"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  expect_skipped_note(s, "report");
  EXPECT_NE(s.out.find("Total: 4 samples, 100 cycles\n"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find(" 75.00%  75.00%      3      3  a\n"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find(" 25.00%  25.00%      1      1  b\n"), std::string::npos) << s.out;
}

TEST_F(PerfScriptCli, FlamegraphAndConvertWeighByPeriodToo) {
  const auto f =
      perfscope({"flamegraph", "-i", kUnequal, "-o", "f.svg", "--folded-out", "f.folded"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  expect_skipped_note(f, "flamegraph");
  EXPECT_EQ(read("f.folded"), "app;main;a 4\napp;main;b 96\n");
  EXPECT_NE(read("f.svg").find("<title>b (96 cycles, 96.00%)</title>"), std::string::npos);

  const auto c = perfscope({"convert", "-i", kUnequal, "-o", "c.folded"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  expect_skipped_note(c, "convert");
  EXPECT_EQ(read("c.folded"), "app;main;a 4\napp;main;b 96\n");
  const auto s =
      perfscope({"convert", "-i", kUnequal, "--sample-type", "samples", "-o", "s.folded"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(read("s.folded"), "app;main;a 3\napp;main;b 1\n");
}

// Lines perf script prints within a sample. -F +srcline names an address it cannot place
// "MODULE[ADDR]", and a module's name may hold spaces: Debian's stripped gzip, copied to "my gzip",
// gives "  my gzip[4ce8]" lines, which are skipped like every other srcline line (they were refused
// as "neither a frame nor a sample header"), so the stacks are those of the same recording printed
// without srclines.
TEST_F(PerfScriptCli, SrclineAndInsnLinesAreNotSamples) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  std::string perf;
  for (const char* p : {"/usr/bin/perf", "/usr/local/bin/perf"}) {
    if (::access(p, X_OK) == 0) perf = p;
  }
  if (perf.empty()) GTEST_SKIP() << "perf is not installed (Debian: apt-get install linux-perf)";
  if (::access("/usr/bin/gzip", X_OK) != 0) GTEST_SKIP() << "/usr/bin/gzip is not installed";
  const std::string gzip = file("my gzip");
  std::filesystem::copy_file("/usr/bin/gzip", gzip);
  {
    std::ofstream input(file("input.txt"));
    for (int i = 0; i < 20000; ++i) input << i << " some text to compress\n";
  }
  // perf 6.1 sometimes aborts in util/build-id.c while other tests load BPF programs: retried.
  auto run_perf = [&](const std::vector<std::string>& argv) {
    testing::RunResult r;
    for (int attempt = 0; attempt < 3; ++attempt) {
      r = run(argv, {.cwd = dir_});
      if (!(r.exit_code == 134 && r.err.find("util/build-id.c") != std::string::npos)) break;
    }
    return r;
  };
  // Every page fault, with its call chain: gzip's own code faults in as it runs.
  const auto rec =
      run_perf({perf, "record", "-q", "-N", "-B", "--no-bpf-event", "-e", "page-faults", "-c", "1",
                "-g", "-o", file("perf.data"), "--", gzip, "-k", "-f", file("input.txt")});
  if (rec.exit_code == 134) GTEST_SKIP() << "perf aborted three times: " << rec.err.substr(0, 200);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const std::string fields = "comm,tid,period,event,ip,sym,dso";
  const auto plain = run_perf({perf, "script", "-i", file("perf.data"), "-F", fields});
  const auto src = run_perf({perf, "script", "-i", file("perf.data"), "-F", fields + ",srcline"});
  for (const auto* r : {&plain, &src}) {
    if (r->exit_code == 134) GTEST_SKIP() << "perf aborted three times: " << r->err.substr(0, 200);
    ASSERT_EQ(r->exit_code, 0) << r->err;
  }
  if (src.out.find("\n  my gzip[") == std::string::npos) {
    GTEST_SKIP() << "this perf prints no 'MODULE[ADDR]' srcline for gzip's frames";
  }
  std::ofstream(file("plain.txt")) << plain.out;
  std::ofstream(file("src.txt")) << src.out;

  const auto a = perfscope({"convert", "-i", "plain.txt", "-o", "plain.folded"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto b = perfscope({"convert", "-i", "src.txt", "-o", "src.folded"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(read("plain.folded").find("my gzip"), std::string::npos) << read("plain.folded");
  EXPECT_EQ(read("src.folded"), read("plain.folded"));

  // -F +insn ends each sample with " insn: 48 89 e7": the sampled instruction's bytes, not a
  // sample of an event named insn (it was counted as one, and skipped with a note).
  const auto insn = run_perf({perf, "script", "-i", file("perf.data"), "-F", fields + ",insn"});
  if (insn.exit_code == 134)
    GTEST_SKIP() << "perf aborted three times: " << insn.err.substr(0, 200);
  ASSERT_EQ(insn.exit_code, 0) << insn.err;
  ASSERT_NE(insn.out.find("\n insn: "), std::string::npos) << insn.out.substr(0, 2000);
  std::ofstream(file("insn.txt")) << insn.out;
  const auto c = perfscope({"convert", "-i", "insn.txt", "-o", "insn.folded"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.err.find("skipped"), std::string::npos) << c.err;
  EXPECT_EQ(read("insn.folded"), read("plain.folded"));
}

}  // namespace
}  // namespace perfscope
