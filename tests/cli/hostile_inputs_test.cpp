// Every hostile input found by fuzzing and by hand (issue 19; the files are in
// tests/data/hostile/, one minimal case each) through the real binary and the command that broke:
// each ends in one clear error naming the problem (exit 1) or in a correct result (exit 0), never
// in a crash, an abort (134), "terminate called" or a sanitizer report (CI runs this suite under
// ASan+UBSan with halt_on_error, where a signed overflow in a sum of sample values fails here).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::run;
using testing::RunResult;

constexpr const char* kInt64Max = "9223372036854775807";

std::string hostile(const std::string& name) {
  return std::string(PERFSCOPE_TEST_DATA) + "/hostile/" + name;
}

class HostileInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-hostile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string read(const std::string& name) const { return read_file(file(name)); }
  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  RunResult perfscope(std::vector<std::string> args) const {
    args.insert(args.begin(), testing::perfscope_binary());
    return run(args, {.cwd = dir_});
  }
  // The command ended on its own terms: no signal, no abort, no sanitizer report.
  static void expect_clean(const RunResult& r) {
    EXPECT_GE(r.exit_code, 0);
    EXPECT_LT(r.exit_code, 128) << r.err;
    for (const char* bad : {"terminate called", "runtime error", "Sanitizer", "Aborted"}) {
      EXPECT_EQ(r.err.find(bad), std::string::npos) << bad << " in:\n" << r.err;
    }
  }
  // Exit 1 with one "perfscope COMMAND: ..." message that contains `problem`.
  static void expect_refused(const RunResult& r, const std::string& problem) {
    expect_clean(r);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err.rfind("perfscope ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("\nperfscope "), std::string::npos) << "more than one message:\n" << r.err;
    EXPECT_NE(r.err.find(problem), std::string::npos) << r.err;
  }
  // `convert -i NAME -o out.folded` succeeds and writes `folded`.
  void expect_converts(const std::string& name, const std::string& folded) {
    SCOPED_TRACE(name);
    const auto r = perfscope({"convert", "-i", hostile(name), "-o", "out.folded"});
    expect_clean(r);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read("out.folded"), folded);
  }
  // Through speedscope JSON and back, the stacks and their (saturated) sums stay the same.
  void expect_speedscope_round_trip(const std::string& name) {
    SCOPED_TRACE(name);
    auto r = perfscope({"convert", "-i", hostile(name), "-o", "direct.folded"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = perfscope({"convert", "-i", hostile(name), "-o", "out.json"});
    expect_clean(r);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = perfscope({"convert", "-i", "out.json", "-o", "back.folded"});
    expect_clean(r);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read("back.folded"), read("direct.folded"));
  }

  std::string dir_;
};

// Two samples of INT64_MAX merged into one stack (pprof merging), and two stacks whose total
// passes INT64_MAX: the sums saturate at INT64_MAX instead of wrapping to -2.
TEST_F(HostileInputs, PprofSumsPastInt64MaxSaturate) {
  expect_converts("overflow_merge.pb", std::string("main ") + kInt64Max + "\n");
  expect_converts("overflow_total.pb",
                  std::string("main ") + kInt64Max + "\nmain;x " + kInt64Max + "\n");
  for (const char* name : {"overflow_merge.pb", "overflow_total.pb"}) {
    SCOPED_TRACE(name);
    const auto r = perfscope({"report", "-i", hostile(name)});
    expect_clean(r);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("Total: ") + kInt64Max + " samples"), std::string::npos)
        << r.out;
    // A minus sign before a digit, outside a path (the checkout's path may hold hyphens).
    EXPECT_FALSE(std::regex_search(r.out, std::regex(R"((^|[\s(%])-\d)")))
        << "a negative number in:\n"
        << r.out;
  }
  expect_speedscope_round_trip("overflow_total.pb");
}

// Sibling stacks of 9e18 each: the tree's totals, the flame graph's x positions and report's
// totals saturate, in every output.
TEST_F(HostileInputs, SiblingStacksPastInt64MaxDrawAndReport) {
  const std::string input = hostile("speedscope_siblings_int64max.json");
  for (const char* out : {"out.svg", "out.html"}) {
    SCOPED_TRACE(out);
    const auto r = perfscope({"flamegraph", "-i", input, "-o", out});
    expect_clean(r);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(read(out).find("other"), std::string::npos);
  }
  const auto r = perfscope({"report", "-i", input});
  expect_clean(r);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("Total: ") + kInt64Max + " samples"), std::string::npos)
      << r.out;
  expect_converts("speedscope_siblings_int64max.json",
                  "main;a 9000000000000000000\nmain;b 9000000000000000000\n"
                  "main;c 9000000000000000000\nother 9000000000000000000\n");
  expect_speedscope_round_trip("speedscope_siblings_int64max.json");
  // The same stacks as folded text are refused: the folded reader checks the sum of its counts.
  const auto folded = perfscope({"convert", "-i", "out.folded", "-o", "again.pb.gz"});
  expect_refused(folded, "the counts add up to more than 2^63");
}

// A negative sample value (INT64_MIN here) is a damaged file: refused on read, naming the sample.
TEST_F(HostileInputs, NegativePprofValueIsRefusedNamingTheSample) {
  for (const char* command : {"report", "convert"}) {
    SCOPED_TRACE(command);
    std::vector<std::string> args{command, "-i", hostile("int64min.pb")};
    if (std::string(command) == "convert") args.insert(args.end(), {"-o", "out.folded"});
    const auto r = perfscope(args);
    expect_refused(r, "int64min.pb: sample 1 has a negative value (-9223372036854775808)");
    EXPECT_FALSE(std::filesystem::exists(file("out.folded")));
  }
}

// Speedscope weights and event times whose sums pass INT64_MAX saturate there.
TEST_F(HostileInputs, SpeedscopeSumsPastInt64MaxSaturate) {
  const std::string saturated = std::string("a ") + kInt64Max + "\n";
  expect_converts("ss_wsum.json", saturated);
  expect_converts("ss_wsum_min.json", saturated);
  expect_converts("ss_evt_acc.json", saturated);
  for (const char* name : {"speedscope_overflow_a.json", "speedscope_overflow_b.json",
                           "ss_wsum.json", "ss_evt_acc.json"}) {
    expect_speedscope_round_trip(name);
  }
}

// 20,000 nested opens took 3.5 GB and 15 s (the open stack was copied per event); now each event
// costs the same at any depth, and stacks that would hold 200 million frames are refused at once.
TEST_F(HostileInputs, DeeplyNestedSpeedscopeEventsAreRefusedQuickly) {
  const auto r = perfscope(
      {"convert", "-i", hostile("speedscope_evented_nested_20k.json"), "-o", "out.folded"});
  expect_refused(r, "nests frames so deeply that its stacks would hold 200010000 frames");
  EXPECT_FALSE(std::filesystem::exists(file("out.folded")));
}

// 305 KB of gzip inflating to 200 MiB of samples: read within the bound, with the right sum.
TEST_F(HostileInputs, GzipAmplifiedPprofIsReadCleanly) {
  expect_converts("pprof_gzip_amplification.pb.gz", "main 26200000\n");
}

// --max-input lowers (or raises) the bound on what is decoded: the same file refused under 1 MiB,
// by every command that reads profiles, with the bound named, and nothing written.
TEST_F(HostileInputs, MaxInputBoundsWhatIsRead) {
  const std::string input = hostile("pprof_gzip_amplification.pb.gz");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"convert", "-i", input, "-o", "out.folded", "--max-input", "1"},
           {"report", "-i", input, "--max-input", "1"},
           {"flamegraph", "-i", input, "-o", "out.svg", "--max-input", "1"}}) {
    SCOPED_TRACE(args[0]);
    const auto r = perfscope(args);
    expect_refused(r, "is larger than 1 MiB");
    EXPECT_FALSE(std::filesystem::exists(file("out.folded")));
    EXPECT_FALSE(std::filesystem::exists(file("out.svg")));
  }
  const auto ok = perfscope({"convert", "-i", input, "-o", "out.folded", "--max-input", "512"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(perfscope({"report", "-i", input, "--max-input", "0"}).exit_code, 0);
}

// 400-digit durations in a monitor configuration: an error naming the file and line, not an
// abort in stod.
TEST_F(HostileInputs, HugeTomlDurationsAreClearErrors) {
  for (const char* name : {"duration_400digits.toml", "toml_stod_abort.toml"}) {
    SCOPED_TRACE(name);
    const auto r = perfscope({"monitor", "--config", hostile(name), "--duration", "1s"});
    expect_refused(r, std::string(name) + ":");
    EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.err;
  }
}

// A folded file whose first stack is longer than 64 KiB is a flame graph, as convert reads it.
TEST_F(HostileInputs, FoldedFirstLineOver64KiBMakesAFlameGraph) {
  const auto r = perfscope(
      {"flamegraph", "-i", hostile("folded_first_line_over_64KiB.folded"), "-o", "out.svg"});
  expect_clean(r);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read("out.svg").find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace perfscope
