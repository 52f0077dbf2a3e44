// PerfScriptReader: default `perf script` text written here (with and without callchains, kernel
// frames, [unknown], inlined frames, COMM with spaces), and real output recorded from ps-burn.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "formats/detect.hpp"
#include "formats/perf_script.hpp"
#include "support/run.hpp"

namespace perfscope::formats {
namespace {

using output::FrameKind;
using output::StackTree;

Result<std::string> fold(std::string_view text, PerfScriptOptions o = {}) {
  StackTree t;
  PerfScriptReader r(t, "perf.txt", std::move(o));
  if (auto st = r.add_text(text); !st) return std::move(st).take_error();
  return folded_from_tree(t);
}

constexpr std::string_view kCallchains =
    "burn 15753  8533.566824:     250000 cpu-clock:ppp: \n"
    "\t           1469e handle_amd+0x7e (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)\n"
    "\t               0 [unknown] ([unknown])\n"
    "\n"
    "burn 15753  8533.567084:     250000 cpu-clock:ppp: \n"
    "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
    "\tffffffff81000c82 asm_exc_page_fault+0x22 ([kernel.kallsyms])\n"
    "\t           224b6 strcmp+0x16 (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)\n"
    "\t    7f11a41508a8 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
    "\n"
    "burn 15753  8533.567324:     250000 cpu-clock:ppp: \n"
    "\t            11bc perfscope_targets::burn_a+0x2e (/tmp/burn)\n"
    "\t            1239 perfscope_targets::work+0x15 (/tmp/burn)\n"
    "\t            129d main+0x45 (/tmp/burn)\n"
    "\n"
    "burn 15753  8533.567567:     250000 cpu-clock:ppp: \n"
    "\t            11bf perfscope_targets::burn_a+0x31 (/tmp/burn)\n"
    "\t            1239 perfscope_targets::work+0x15 (/tmp/burn)\n"
    "\t            129d main+0x45 (/tmp/burn)\n"
    "\n";

TEST(FlamegraphPerfScript, FoldsCallchainSamples) {
  auto r = fold(kCallchains);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r,
            "burn;[libc.so.6];strcmp;asm_exc_page_fault_[k];exc_page_fault_[k] 1\n"
            "burn;[unknown];handle_amd 1\n"
            "burn;main;perfscope_targets::work;perfscope_targets::burn_a 2\n");
}

TEST(FlamegraphPerfScript, WeighsByPeriodWhenAsked) {
  StackTree t;
  PerfScriptReader r(t, "perf.txt", {.weight_by_period = true});
  ASSERT_TRUE(r.add_text(kCallchains));
  EXPECT_EQ(t.total(), 4 * 250000);
  EXPECT_EQ(r.samples(), 4u);
}

TEST(FlamegraphPerfScript, FoldsSamplesWithoutCallchains) {
  // perf right-aligns COMM when each sample is one line.
  auto r = fold(
      "            burn 15867  8536.667333:     250000 cpu-clock:ppp:      7ff73c8c166a "
      "update_active.constprop.0+0x4fa (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)\n"
      "            burn 15867  8536.667580:     250000 cpu-clock:ppp:  ffffffff815f0035 "
      "special_mapping_fault+0x5 ([kernel.kallsyms])\n"
      "            burn 15867  8536.668162:     250000 cpu-clock:ppp:      55c6c156e1bf "
      "perfscope_targets::burn_a+0x31 (/tmp/flamework/burn)\n"
      "            burn 15867  8536.668411:     250000 cpu-clock:ppp:      55c6c156e1bf "
      "perfscope_targets::burn_a+0x31 (/tmp/flamework/burn)\n");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r,
            "burn;perfscope_targets::burn_a 2\n"
            "burn;special_mapping_fault_[k] 1\n"
            "burn;update_active.constprop.0 1\n");
}

TEST(FlamegraphPerfScript, HeadersWithSpacesInCommCpuAndPidTid) {
  auto h = parse_perf_script_header("Web Content 1234/1240 [003] 12.000001: 10 cycles:u: ");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->comm, "Web Content");
  EXPECT_EQ(h->pid, 1234);
  EXPECT_EQ(h->tid, 1240);
  EXPECT_EQ(h->period, 10);
  EXPECT_EQ(h->event, "cycles:u");
  EXPECT_EQ(h->rest, "");
  auto tp = parse_perf_script_header("kworker/0:1 77 [000] 5.5: sched:sched_switch: prev=a");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->comm, "kworker/0:1");
  EXPECT_FALSE(tp->period);
  EXPECT_EQ(tp->event, "sched:sched_switch");
  EXPECT_EQ(tp->rest, "prev=a");
  EXPECT_FALSE(parse_perf_script_header("main;parse 12"));
  EXPECT_FALSE(parse_perf_script_header("\t 11bc burn_a+0x2e (/tmp/burn)"));
}

TEST(FlamegraphPerfScript, FramesWithParenthesesInlinedAndJit) {
  auto f = parse_perf_script_frame(
      "4011a0 ns::(anonymous namespace)::Foo::operator()(int)+0x10 (/bin/x)");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "ns::(anonymous namespace)::Foo::operator()(int)");
  EXPECT_EQ(f->kind, FrameKind::user);
  auto inl = parse_perf_script_frame("4011a0 helper (inlined)");
  ASSERT_TRUE(inl);
  EXPECT_EQ(inl->name, "helper");
  EXPECT_EQ(inl->kind, FrameKind::inlined);
  auto jit = parse_perf_script_frame("7f00dead0000 LambdaForm$MH::invoke+0x3 (/tmp/perf-4242.map)");
  ASSERT_TRUE(jit);
  EXPECT_EQ(jit->kind, FrameKind::jit);
  auto mod = parse_perf_script_frame("ffffffffc0a01234 nft_do_chain+0x44 ([nf_tables])");
  ASSERT_TRUE(mod);
  EXPECT_EQ(mod->kind, FrameKind::kernel);
  auto vdso = parse_perf_script_frame("7ffd1234 [unknown] ([vdso])");
  ASSERT_TRUE(vdso);
  EXPECT_EQ(vdso->name, "[vdso]");
  EXPECT_EQ(vdso->kind, FrameKind::user);
  auto plus = parse_perf_script_frame("1000 operator+ (/bin/x)");
  ASSERT_TRUE(plus);
  EXPECT_EQ(plus->name, "operator+");
  EXPECT_FALSE(parse_perf_script_frame("1000 cut_off_sym+0x1 (/usr/li"));
  EXPECT_FALSE(parse_perf_script_frame("zzzz f (/bin/x)"));

  auto r = fold(
      "app 10 1.0: 1 cpu-clock: \n"
      "\t 4011a0 helper (inlined)\n"
      "\t 4011a0 caller+0x10 (/bin/app)\n"
      "\t 4012b0 main+0x5 (/bin/app)\n");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "app;main;caller;helper_[i] 1\n");
}

TEST(FlamegraphPerfScript, FiltersByPidAndComm) {
  const std::string text =
      "web 42/43 1.0: 1 cpu-clock: \n\t 10 serve+0x1 (/bin/web)\n\n"
      "db 77 2.0: 1 cpu-clock: \n\t 10 query+0x1 (/bin/db)\n\n";
  auto by_pid = fold(text, {.pids = {42}});
  ASSERT_TRUE(by_pid);
  EXPECT_EQ(*by_pid, "web;serve 1\n");
  auto by_comm = fold(text, {.comm = "db"});
  ASSERT_TRUE(by_comm);
  EXPECT_EQ(*by_comm, "db;query 1\n");
  auto no_comm = fold(text, {.include_comm = false});
  ASSERT_TRUE(no_comm);
  EXPECT_EQ(*no_comm, "query 1\nserve 1\n");
}

TEST(FlamegraphPerfScript, TruncatedOrForeignTextIsAnErrorWithTheLine) {
  auto cut = fold("burn 1 1.0: 1 cpu-clock: \n\t 11bc burn_a+0x2e (/tmp/burn)\n\t 1239 work+0x1");
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().op,
            "perf.txt:3: the frame line has no '(MODULE)' at its end: was the output cut short?");
  auto half_header = fold("burn 1 1.0: 1 cpu-clock: \n\t 11bc a+0x2 (/b)\n\nburn 1 1.");
  ASSERT_FALSE(half_header);
  EXPECT_EQ(half_header.error().op, "perf.txt:4: 'burn 1 1.' is not a sample header");
  auto orphan = fold("\t 11bc burn_a+0x2e (/tmp/burn)\n");
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().op,
            "perf.txt:1: '11bc burn_a+0x2e (/tmp/burn)' is an indented line outside a sample");
  auto empty = fold("# only a comment\n\n");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().op, "perf.txt: no samples in the perf script output");
  EXPECT_NE(cut.error().hint.find("perf script"), std::string::npos);
}

TEST(FlamegraphPerfScript, IsDetectedByItsFirstHeader) {
  EXPECT_EQ(detect_format(kCallchains), Format::perf_script);
  // Right-aligned COMM, as perf prints it without callchains.
  EXPECT_EQ(detect_format("   burn 1 1.5: 1 cpu-clock:  10 f+0x1 (/b)\n"), Format::perf_script);
}

// Real output of the installed perf, recorded here from a target with known hot functions.
class FlamegraphRealPerfScript : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* p : {"/usr/bin/perf", "/usr/local/bin/perf"}) {
      if (::access(p, X_OK) == 0) {
        perf_ = p;
        break;
      }
    }
    if (perf_.empty()) GTEST_SKIP() << "perf is not installed (Debian: apt-get install linux-perf)";
    char tmpl[] = "/tmp/perfscope-perfscript-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // `perf script` text of `perf record ARGS -- TARGET TARGET_ARGS`, or skips.
  std::string record(std::vector<std::string> record_args, const std::string& target,
                     const std::string& target_arg) {
    const std::string data = dir_ + "/perf.data";
    // -N -B: no build-id cache and no build-id collection. perf 6.1 can crash in both when two
    // tests record at once ("assertion failed at util/build-id.c:1010", stack smashing, seen in
    // CI); `perf script` reads the binaries themselves and needs neither.
    std::vector<std::string> argv{perf_, "record", "-q", "-N", "-B", "--no-bpf-event", "-o", data};
    argv.insert(argv.end(), record_args.begin(), record_args.end());
    argv.insert(argv.end(), {"--", testing::target(target), target_arg});
    auto rec = testing::run(argv);
    if (rec.exit_code != 0) {
      ADD_FAILURE() << "perf record failed (" << rec.exit_code << "): " << rec.err;
      return {};
    }
    // perf 6.1's `perf script` itself sometimes aborts in the same build-id code
    // ("assertion failed at util/build-id.c:1010", stack smashing) while another test loads BPF
    // programs (seen in a CI rehearsal). That is perf's bug, not a perfscope result: try again,
    // and skip with the reason if it keeps happening.
    testing::RunResult script;
    for (int attempt = 0; attempt < 3; ++attempt) {
      script = testing::run({perf_, "script", "-i", data});
      if (!(script.exit_code == 134 && script.err.find("util/build-id.c") != std::string::npos)) {
        break;
      }
    }
    if (script.exit_code == 134 && script.err.find("util/build-id.c") != std::string::npos) {
      skipped_ = "perf script aborted three times in util/build-id.c (a perf 6.1 bug): " +
                 script.err.substr(0, 200);
      return {};
    }
    EXPECT_EQ(script.exit_code, 0) << script.err;
    return script.out;
  }

  std::string perf_;
  std::string dir_;
  std::string skipped_;  // why perf itself could not give its output
};

std::int64_t total_of(const StackTree& t, std::string_view name) {
  std::int64_t sum = 0;
  for (std::uint32_t id = 1; id < t.size(); ++id) {
    if (t.name(t.node(id).name) == name) sum += t.node(id).total;
  }
  return sum;
}

TEST_F(FlamegraphRealPerfScript, FramePointerCallchainsOfBurn) {
  const std::string text = record({"-g", "-e", "cpu-clock", "-F", "999"}, "ps-burn", "400");
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(detect_format(text), Format::perf_script);
  StackTree t;
  PerfScriptReader r(t, "perf script", {});
  ASSERT_TRUE(r.add_text(text)) << text.substr(0, 2000);
  const std::int64_t a = total_of(t, "perfscope_targets::burn_a");
  const std::int64_t b = total_of(t, "perfscope_targets::burn_b");
  EXPECT_GT(a, 0);
  EXPECT_GT(b, 0);
  EXPECT_GT(a, b) << "burn_a does 3x the work of burn_b";
  const std::string folded = folded_from_tree(t);
  EXPECT_NE(folded.find("ps-burn;"), std::string::npos) << folded.substr(0, 2000);
  EXPECT_NE(folded.find("main;perfscope_targets::work;perfscope_targets::burn_a"),
            std::string::npos)
      << folded.substr(0, 2000);
}

TEST_F(FlamegraphRealPerfScript, NoCallchainsAndKernelFrames) {
  // Without -g each sample is one header line; getpid_loop spends its time in the kernel.
  const std::string burn = record({"-e", "cpu-clock", "-F", "999"}, "ps-burn", "300");
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
  StackTree t;
  PerfScriptReader r(t, "perf script", {});
  ASSERT_TRUE(r.add_text(burn)) << burn.substr(0, 2000);
  EXPECT_GT(total_of(t, "perfscope_targets::burn_a"), 0);

  const std::string sys =
      record({"-g", "-e", "cpu-clock", "-F", "999"}, "ps-getpid_loop", "3000000");
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
  StackTree k;
  PerfScriptReader rk(k, "perf script", {});
  ASSERT_TRUE(rk.add_text(sys)) << sys.substr(0, 2000);
  std::int64_t kernel = 0;
  for (std::uint32_t id = 1; id < k.size(); ++id) {
    if (k.node(id).kind == FrameKind::kernel) kernel += k.node(id).self;
  }
  EXPECT_GT(kernel, 0) << folded_from_tree(k).substr(0, 2000);
}

TEST_F(FlamegraphRealPerfScript, DwarfCallchains) {
  const std::string text =
      record({"--call-graph", "dwarf,16384", "-e", "cpu-clock", "-F", "499"}, "ps-burn", "300");
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
  ASSERT_FALSE(text.empty());
  StackTree t;
  PerfScriptReader r(t, "perf script", {});
  ASSERT_TRUE(r.add_text(text)) << text.substr(0, 2000);
  EXPECT_GT(total_of(t, "perfscope_targets::burn_a"), 0);
  EXPECT_GT(total_of(t, "main"), 0);
}

}  // namespace
}  // namespace perfscope::formats
