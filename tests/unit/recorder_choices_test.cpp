// The recording engine's decisions, without the CLI and without the kernel: call-graph and backend
// parsing, --call-graph auto judged on real binaries, and the summary's lines.
#include <gtest/gtest.h>

#include <string>

#include "recording/call_graph.hpp"
#include "recording/recorder.hpp"
#include "support/run.hpp"

namespace perfscope::recording {
namespace {

TEST(RecorderChoices, CallGraphModesAndSizes) {
  EXPECT_EQ(parse_call_graph("auto")->mode, CallGraphMode::automatic);
  EXPECT_EQ(parse_call_graph("fp")->mode, CallGraphMode::fp);
  EXPECT_EQ(parse_call_graph("none")->mode, CallGraphMode::none);
  EXPECT_EQ(parse_call_graph("cfi")->mode, CallGraphMode::cfi);
  EXPECT_FALSE(parse_call_graph("cfi,8192"));
  auto dwarf = parse_call_graph("dwarf,1001");
  ASSERT_TRUE(dwarf);
  EXPECT_EQ(dwarf->mode, CallGraphMode::dwarf);
  EXPECT_EQ(dwarf->stack_bytes, 1008u) << "rounded up to 8 bytes";
  EXPECT_EQ(parse_call_graph("dwarf")->stack_bytes, 16384u);
  EXPECT_FALSE(parse_call_graph("lbr"));
  EXPECT_FALSE(parse_call_graph("fp,64"));
  EXPECT_FALSE(parse_call_graph("dwarf,4"));
  EXPECT_FALSE(parse_call_graph("dwarf,70000"));
  EXPECT_FALSE(parse_call_graph("dwarf,12x"));
  EXPECT_NE(parse_call_graph("dwarf,70000").error().hint.find("65528"), std::string::npos);
}

TEST(RecorderChoices, Backends) {
  EXPECT_EQ(*parse_backend("auto"), BackendChoice::automatic);
  EXPECT_EQ(*parse_backend("bpf"), BackendChoice::bpf);
  EXPECT_EQ(*parse_backend("perf"), BackendChoice::perf);
  auto bad = parse_backend("ebpf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("ebpf"), std::string::npos);
}

// The one frame-pointer judgement (system::judge_frame_pointers) decides auto for one program;
// the eBPF backend walks .eh_frame tables in the kernel (cfi); system-wide recordings on the perf
// rings use frame pointers; explicit modes are kept.
TEST(RecorderChoices, AutoCallGraphJudgesTheProgram) {
  CallGraph fp_build;
  resolve_call_graph(fp_build, testing::target("ps-busy-fp"), "ps-busy-fp", false);
  EXPECT_EQ(fp_build.mode, CallGraphMode::fp) << fp_build.why;
  EXPECT_NE(fp_build.why.find("ps-busy-fp keeps frame pointers"), std::string::npos);

  CallGraph nofp_build;
  resolve_call_graph(nofp_build, testing::target("ps-busy-nofp"), "ps-busy-nofp", false);
  EXPECT_EQ(nofp_build.mode, CallGraphMode::dwarf) << nofp_build.why;
  // ps-busy-nofp is stripped, as Debian's programs are: no function symbol says where a prologue
  // is, so no frame pointers are assumed, and the reason says that (not "0 of 0 sampled").
  EXPECT_NE(nofp_build.why.find("ps-busy-nofp has no function symbols to check for frame pointers"),
            std::string::npos)
      << nofp_build.why;

  CallGraph bpf;
  resolve_call_graph(bpf, testing::target("ps-busy-nofp"), "ps-busy-nofp", true);
  EXPECT_EQ(bpf.mode, CallGraphMode::cfi);
  EXPECT_NE(bpf.why.find("eBPF backend walks .eh_frame"), std::string::npos) << bpf.why;

  CallGraph system_wide;
  resolve_call_graph(system_wide, "", "", false);
  EXPECT_EQ(system_wide.mode, CallGraphMode::fp);
  EXPECT_NE(system_wide.why.find("system-wide"), std::string::npos);

  CallGraph missing;
  resolve_call_graph(missing, "/no/such/program", "/no/such/program", false);
  EXPECT_EQ(missing.mode, CallGraphMode::fp);
  EXPECT_NE(missing.why.find("could not be inspected"), std::string::npos);

  CallGraph asked;
  asked.mode = CallGraphMode::dwarf;
  resolve_call_graph(asked, testing::target("ps-busy-fp"), "ps-busy-fp", false);
  EXPECT_EQ(asked.mode, CallGraphMode::dwarf) << "an explicit mode is never overridden";
}

TEST(RecorderChoices, SummaryLinesFromAResult) {
  RecordResult r;
  r.stats.subject = "'app'";
  r.stats.elapsed_s = 2.0;
  r.stats.samples = 150;
  r.stats.cpus = {0, 1};
  r.stats.samples_per_cpu = {{0, 100}, {1, 50}};
  r.stats.command_cpu_s = 1.5;
  r.stats.backend = "perf (ring buffers)";
  r.stats.backend_why = "no BTF";
  r.stats.call_graph_line = "fp";
  r.backend.event = "cpu-clock";
  r.backend.frequency = 99;
  r.backend.loss_lines = {"Lost: 0 samples (ring buffer full)"};
  const auto lines = summarize(r, "out.pb.gz", 0.5);
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "Collected 150 samples in 2.00 s ('app', cpu-clock at 99 Hz)");
  EXPECT_EQ(lines[1], "CPU 0: 100 samples");
  EXPECT_EQ(lines[2], "CPU 1: 50 samples");
  EXPECT_EQ(lines[3],
            "Sample rate: 101.0% of expected (99 Hz x 1.50 s of the command's CPU time = 148 "
            "expected)");
  bool backend = false, wrote = false;
  for (const auto& l : lines) {
    backend |= l == "Backend: perf (ring buffers), as eBPF cannot run here: no BTF";
    wrote |= l.rfind("Wrote out.pb.gz (", 0) == 0;
  }
  EXPECT_TRUE(backend);
  EXPECT_TRUE(wrote);

  r.stop_signal = 2;
  EXPECT_EQ(summarize(r, "-", 0).front().rfind("Stopped by Interrupt after 2.00 s", 0), 0u);
}

}  // namespace
}  // namespace perfscope::recording
