// --sample-type in `perfscope report` and `perfscope flamegraph`, run as a user runs them: a heap
// profile with two sample types written with the library, the real binary reading it. The two
// types rank the functions in opposite orders, so every output shows which one was counted.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
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

// Stacks root first, counted in both types as pprof's heap profiles order them.
struct HeapSample {
  std::vector<std::string> stack;
  std::int64_t alloc_objects = 0;
  std::int64_t alloc_space = 0;  // bytes
  testing::Thread thread;
};

// many_small makes 75 of the 100 allocations but 256 KiB of the 1 MiB; few_large the other 25
// allocations and 768 KiB.
const std::vector<HeapSample> kHeap{
    {{"main", "many_small"}, 75, 256 * 1024, testing::kWeb},
    {{"main", "few_large"}, 25, 768 * 1024, testing::kDb},
};

// A profile with sample types alloc_objects/count and alloc_space/bytes; `default_type` names the
// default sample type ("" leaves it 0: the first).
profile::Profile heap_profile(const std::vector<HeapSample>& samples,
                              const std::string& default_type) {
  TestProfile t;
  profile::Profile& p = t.p;
  p.sample_types = {{p.intern("alloc_objects"), p.intern("count")},
                    {p.intern("alloc_space"), p.intern("bytes")}};
  p.period_type = {p.intern("space"), p.intern("bytes")};
  p.period = 512 * 1024;
  if (!default_type.empty()) p.default_sample_type = p.intern(default_type);
  for (const HeapSample& s : samples) {
    profile::Sample sample;
    for (auto it = s.stack.rbegin(); it != s.stack.rend(); ++it) {
      sample.location_ids.push_back(t.frame(*it));
    }
    sample.values = {s.alloc_objects, s.alloc_space};
    sample.labels = {{.key = p.intern("pid"), .num = s.thread.pid},
                     {.key = p.intern("tid"), .num = s.thread.tid},
                     {.key = p.intern("cpu"), .num = s.thread.cpu},
                     {.key = p.intern("comm"), .str = p.intern(s.thread.comm)}};
    p.add_sample(std::move(sample));
  }
  return std::move(t.p);
}

class SampleTypeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/perfscope-sample-type-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // heap.pb.gz shows alloc_space by default, as `go tool pprof` shows a heap profile's space;
    // first.pb.gz leaves the default unset, which means its last type (alloc_space) to Go's pprof
    // and to perfscope; objects.pb.gz names its first type (alloc_objects) as the default.
    ASSERT_TRUE(profile::write_pprof(heap_profile(kHeap, "alloc_space"), file("heap.pb.gz")));
    ASSERT_TRUE(profile::write_pprof(heap_profile(kHeap, ""), file("first.pb.gz")));
    ASSERT_TRUE(profile::write_pprof(heap_profile(kHeap, "alloc_objects"), file("objects.pb.gz")));
    // The same program before a change: few_large allocated half as much space.
    ASSERT_TRUE(
        profile::write_pprof(heap_profile({{{"main", "many_small"}, 75, 256 * 1024, testing::kWeb},
                                           {{"main", "few_large"}, 25, 384 * 1024, testing::kDb}},
                                          "alloc_space"),
                             file("before.pb.gz")));
    // A CPU profile as `perfscope record` writes it: samples/count and cpu/nanoseconds.
    ASSERT_TRUE(profile::write_pprof(testing::web_and_db().p, file("cpu.pb.gz")));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  bool exists(const std::string& name) const { return std::filesystem::exists(file(name)); }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // perfscope COMMAND ARGS, in the test's directory.
  testing::RunResult perfscope(const std::string& command, std::vector<std::string> args) const {
    args.insert(args.begin(), {testing::perfscope_binary(), command});
    return run(args, {.cwd = dir_});
  }

  std::string dir_;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The first row of the main table.
std::string top_row(const std::string& report) {
  const std::size_t header = report.find("  Function\n");
  if (header == std::string::npos) return {};
  const std::size_t start = header + std::string_view("  Function\n").size();
  return report.substr(start, report.find('\n', start) - start);
}

TEST_F(SampleTypeCli, ReportCountsTheChosenSampleType) {
  const auto space = perfscope("report", {"-i", "first.pb.gz", "--sample-type", "alloc_space"});
  ASSERT_EQ(space.exit_code, 0) << space.err;
  EXPECT_EQ(space.err, "");
  // The chosen type's total comes first: it is what the tables count.
  EXPECT_TRUE(has(space.out, "Total: 1.00 MiB alloc_space, 100 alloc_objects\n")) << space.out;
  EXPECT_EQ(top_row(space.out), " 75.00%  75.00%  768.00 KiB  768.00 KiB  few_large") << space.out;
  EXPECT_TRUE(has(space.out, " 25.00%  25.00%  256.00 KiB  256.00 KiB  many_small\n")) << space.out;
  EXPECT_TRUE(has(space.out, "  0.00% 100.00%     0 bytes    1.00 MiB  main\n")) << space.out;
  // The process breakdown weighs by the same type.
  EXPECT_TRUE(has(space.out, " 75.00%  768.00 KiB  db (77)\n")) << space.out;

  const auto objects = perfscope("report", {"-i", "first.pb.gz", "--sample-type", "alloc_objects"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_TRUE(has(objects.out, "Total: 100 alloc_objects, 1.00 MiB alloc_space\n")) << objects.out;
  EXPECT_EQ(top_row(objects.out), " 75.00%  75.00%     75     75  many_small") << objects.out;
  EXPECT_TRUE(has(objects.out, " 25.00%  25.00%     25     25  few_large\n")) << objects.out;
  EXPECT_TRUE(has(objects.out, " 75.00%     75  web (42)\n")) << objects.out;
}

TEST_F(SampleTypeCli, ReportTakesAnIndexAsWell) {
  const auto by_name = perfscope("report", {"-i", "first.pb.gz", "--sample-type", "alloc_space"});
  const auto by_index = perfscope("report", {"-i", "first.pb.gz", "--sample-type", "1"});
  ASSERT_EQ(by_index.exit_code, 0) << by_index.err;
  EXPECT_EQ(by_index.out, by_name.out);
  const auto zero = perfscope("report", {"-i", "heap.pb.gz", "--sample-type", "0"});
  ASSERT_EQ(zero.exit_code, 0) << zero.err;
  EXPECT_EQ(top_row(zero.out), " 75.00%  75.00%     75     75  many_small") << zero.out;
}

TEST_F(SampleTypeCli, ReportHonoursTheDefaultSampleType) {
  const auto heap = perfscope("report", {"-i", "heap.pb.gz"});
  ASSERT_EQ(heap.exit_code, 0) << heap.err;
  EXPECT_TRUE(has(heap.out, "Total: 1.00 MiB alloc_space, 100 alloc_objects\n")) << heap.out;
  EXPECT_EQ(top_row(heap.out), " 75.00%  75.00%  768.00 KiB  768.00 KiB  few_large") << heap.out;

  // A default that is not the last type.
  const auto objects = perfscope("report", {"-i", "objects.pb.gz"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_TRUE(has(objects.out, "Total: 100 alloc_objects, 1.00 MiB alloc_space\n")) << objects.out;
  EXPECT_EQ(top_row(objects.out), " 75.00%  75.00%     75     75  many_small") << objects.out;

  // No default: the last type, as `go tool pprof` takes it.
  const auto first = perfscope("report", {"-i", "first.pb.gz"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(has(first.out, "Total: 1.00 MiB alloc_space, 100 alloc_objects\n")) << first.out;
  EXPECT_EQ(top_row(first.out), " 75.00%  75.00%  768.00 KiB  768.00 KiB  few_large") << first.out;
}

TEST_F(SampleTypeCli, ReportFilterLineUsesTheChosenType) {
  const auto r = perfscope("report", {"-i", "heap.pb.gz", "--pid", "77"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Filter: pid 77: 768.00 KiB alloc_space (75.0%)\n")) << r.out;
  EXPECT_EQ(top_row(r.out), "100.00% 100.00%  768.00 KiB  768.00 KiB  few_large") << r.out;
}

TEST_F(SampleTypeCli, ReportFoldedWritesTheChosenValues) {
  const auto space = perfscope("report", {"-i", "heap.pb.gz", "--folded"});
  ASSERT_EQ(space.exit_code, 0) << space.err;
  EXPECT_EQ(space.out, "db;main;few_large 786432\nweb;main;many_small 262144\n");
  const auto objects = perfscope(
      "report", {"-i", "heap.pb.gz", "--folded", "--no-comm", "--sample-type", "alloc_objects"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_EQ(objects.out, "main;few_large 25\nmain;many_small 75\n");
}

TEST_F(SampleTypeCli, CpuProfilesAreUnchangedAndCanShowCpuTime) {
  const auto plain = perfscope("report", {"-i", "cpu.pb.gz"});
  const auto samples = perfscope("report", {"-i", "cpu.pb.gz", "--sample-type", "samples"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(samples.out, plain.out);
  EXPECT_TRUE(has(plain.out, "Total: 100 samples, 1.000 s cpu\n")) << plain.out;
  EXPECT_EQ(top_row(plain.out), " 60.00%  60.00%     60     60  parse") << plain.out;

  const auto cpu = perfscope("report", {"-i", "cpu.pb.gz", "--sample-type", "cpu"});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_TRUE(has(cpu.out, "Total: 1.000 s cpu, 100 samples\n")) << cpu.out;
  EXPECT_EQ(top_row(cpu.out), " 60.00%  60.00%  0.600 s  0.600 s  parse") << cpu.out;
}

TEST_F(SampleTypeCli, FlamegraphWeighsFramesByTheChosenType) {
  const auto space =
      perfscope("flamegraph", {"-i", "first.pb.gz", "--sample-type", "alloc_space", "-o", "s.svg"});
  ASSERT_EQ(space.exit_code, 0) << space.err;
  const std::string s = read(file("s.svg"));
  EXPECT_TRUE(has(s, "<title>few_large (786432 alloc_space, 75.00%)</title>")) << s;
  EXPECT_TRUE(has(s, "<title>many_small (262144 alloc_space, 25.00%)</title>")) << s;

  const auto objects = perfscope(
      "flamegraph", {"-i", "heap.pb.gz", "--sample-type", "alloc_objects", "-o", "o.svg"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  const std::string o = read(file("o.svg"));
  EXPECT_TRUE(has(o, "<title>few_large (25 alloc_objects, 25.00%)</title>")) << o;
  EXPECT_TRUE(has(o, "<title>many_small (75 alloc_objects, 75.00%)</title>")) << o;

  // The HTML page names its counts by the type as well.
  const auto html = perfscope(
      "flamegraph", {"-i", "heap.pb.gz", "--sample-type", "alloc_objects", "-o", "o.html"});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  EXPECT_TRUE(has(read(file("o.html")), "alloc_objects"));
  EXPECT_FALSE(has(read(file("o.html")), "alloc_space"));
}

TEST_F(SampleTypeCli, FlamegraphHonoursTheDefaultSampleType) {
  const auto heap = perfscope("flamegraph", {"-i", "heap.pb.gz", "-o", "h.svg"});
  ASSERT_EQ(heap.exit_code, 0) << heap.err;
  EXPECT_TRUE(has(read(file("h.svg")), "<title>few_large (786432 alloc_space, 75.00%)</title>"));
  const auto objects = perfscope("flamegraph", {"-i", "objects.pb.gz", "-o", "o.svg"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_TRUE(has(read(file("o.svg")), "<title>few_large (25 alloc_objects, 25.00%)</title>"));
  const auto first = perfscope("flamegraph", {"-i", "first.pb.gz", "-o", "f.svg"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(has(read(file("f.svg")), "<title>few_large (786432 alloc_space, 75.00%)</title>"));
}

TEST_F(SampleTypeCli, FlamegraphDiffComparesTheSameTypeInTheBaseline) {
  const auto space = perfscope("flamegraph", {"-i", "heap.pb.gz", "--diff", "before.pb.gz",
                                              "--folded-out", "d.folded", "-o", "d.svg"});
  ASSERT_EQ(space.exit_code, 0) << space.err;
  const std::string d = read(file("d.svg"));
  EXPECT_TRUE(has(d,
                  "<title>few_large (786432 alloc_space, 75.00%; +393216 alloc_space "
                  "(+100.00%) vs baseline 393216)</title>"))
      << d;
  EXPECT_EQ(read(file("d.folded")), "db;main;few_large 786432\nweb;main;many_small 262144\n");

  // Counted in objects, nothing changed.
  const auto objects = perfscope("flamegraph", {"-i", "heap.pb.gz", "--diff", "before.pb.gz",
                                                "--sample-type", "alloc_objects", "-o", "o.svg"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_TRUE(has(read(file("o.svg")), "<title>few_large (25 alloc_objects, 25.00%; +0 "))
      << read(file("o.svg"));
}

TEST_F(SampleTypeCli, InputsWithOneTypeAcceptOnlySamples) {
  write("app.folded", "app;main;hot 9\napp;main;cold 1\n");
  for (const char* type : {"samples", "0"}) {
    const auto r = perfscope("flamegraph", {"-i", "app.folded", "--sample-type", type});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(has(r.out, "<title>hot (9 samples, 90.00%)</title>")) << r.out;
  }
  const auto r =
      perfscope("flamegraph", {"-i", "app.folded", "--sample-type", "alloc_space", "-o", "x.svg"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "perfscope flamegraph: app.folded has no sample type \"alloc_space\"; it has: "
            "samples\n");
  EXPECT_FALSE(exists("x.svg"));
}

TEST_F(SampleTypeCli, UnknownNamesGiveOneMessageAndNoOutputFile) {
  struct Case {
    std::string command;
    std::vector<std::string> args;
    std::string error;  // all of standard error
  };
  const std::vector<Case> cases{
      {"report",
       {"-i", "heap.pb.gz", "--sample-type", "foo", "-o", "x.txt"},
       "perfscope report: the profile has no sample type \"foo\"; it has: alloc_objects, "
       "alloc_space\n"},
      {"report",
       {"-i", "cpu.pb.gz", "--sample-type", "foo", "--folded", "-o", "x.txt"},
       "perfscope report: the profile has no sample type \"foo\"; it has: samples, cpu\n"},
      {"report",
       {"-i", "heap.pb.gz", "--sample-type", "2", "-o", "x.txt"},
       "perfscope report: the profile has no sample type \"2\"; it has: alloc_objects, "
       "alloc_space\n"},
      {"flamegraph",
       {"-i", "heap.pb.gz", "--sample-type", "inuse_space", "-o", "x.svg", "--folded-out",
        "x.folded"},
       "perfscope flamegraph: heap.pb.gz has no sample type \"inuse_space\"; it has: "
       "alloc_objects, alloc_space\n"},
      {"flamegraph",
       {"-i", "heap.pb.gz", "--sample-type", "inuse_space", "-o", "x.html"},
       "perfscope flamegraph: heap.pb.gz has no sample type \"inuse_space\"; it has: "
       "alloc_objects, alloc_space\n"},
      // The baseline lacks the input's (default) type.
      {"flamegraph",
       {"-i", "heap.pb.gz", "--diff", "cpu.pb.gz", "-o", "x.svg"},
       "perfscope flamegraph: the baseline cpu.pb.gz has no sample type \"alloc_space\"; it "
       "has: samples, cpu\n"
       "  --diff compares the same sample type in both inputs (alloc_space in heap.pb.gz); "
       "choose one with --sample-type\n"},
  };
  for (const Case& c : cases) {
    const auto r = perfscope(c.command, c.args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err, c.error);
    EXPECT_EQ(r.out, "");
    for (const char* name : {"x.txt", "x.svg", "x.html", "x.folded"}) {
      EXPECT_FALSE(exists(name)) << name << " after " << c.error;
    }
    // No temporary file left behind either.
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      EXPECT_FALSE(has(entry.path().filename().string(), ".tmp.")) << entry.path();
    }
  }
}

TEST_F(SampleTypeCli, HelpNamesTheOption) {
  for (const char* command : {"report", "flamegraph"}) {
    const auto r = perfscope(command, {"--help"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(has(r.out, "--sample-type")) << r.out;
  }
}

}  // namespace
}  // namespace perfscope
