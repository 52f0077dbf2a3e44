// `perfscope record --call-graph dwarf`: user stacks copied by the kernel and unwound offline
// through .eh_frame, on targets built like distribution code (-O2 -fomit-frame-pointer -g).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "profile/stack_quality.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::flatten;
using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// The out-of-line functions of one sample, leaf first, without parameter lists
// ("perfscope_targets::chain_hot"), as `perf script` names them.
std::vector<std::string> outer_frames(const profile::Profile& p, const profile::Sample& s) {
  std::vector<std::string> out;
  for (auto id : s.location_ids) {
    const auto& l = p.location(id);
    if (l.lines.empty()) {
      out.push_back("[unknown]");
      continue;
    }
    std::string name = profile::function_name(p, p.function(l.lines.back().function_id));
    out.push_back(name.substr(0, name.find('(')));
  }
  return out;
}

// Position of `name` in `frames`, or -1.
long index_of(const std::vector<std::string>& frames, const std::string& name) {
  auto it = std::find(frames.begin(), frames.end(), name);
  return it == frames.end() ? -1 : static_cast<long>(it - frames.begin());
}

// The line of the source marked "MIX-LINE" in the chain target.
int mix_line() {
  std::ifstream in(std::string(PERFSCOPE_TEST_DATA) + "/../targets/chain.cpp");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find("// MIX-LINE") != std::string::npos) return n;
  }
  return -1;
}

struct Chain {
  std::int64_t hot = 0;         // samples with chain_hot in the stack
  std::int64_t full_chain = 0;  // of those, main → chain_a → chain_b → chain_c → chain_hot
  std::int64_t reaching_main = 0;
};

Chain chain_of(const profile::Profile& p) {
  Chain c;
  for (const auto& s : p.samples()) {
    const auto f = outer_frames(p, s);
    const long hot = index_of(f, "perfscope_targets::chain_hot");
    if (hot < 0) continue;
    c.hot += s.values[0];
    const long m = index_of(f, "main");
    if (m >= 0) c.reaching_main += s.values[0];
    if (m > hot && index_of(f, "perfscope_targets::chain_c") == hot + 1 &&
        index_of(f, "perfscope_targets::chain_b") == hot + 2 &&
        index_of(f, "perfscope_targets::chain_a") == hot + 3 && m == hot + 4) {
      c.full_chain += s.values[0];
    }
  }
  return c;
}

TEST(RecordDwarf, ReachesMainWithTheInlinedHelperAsItsOwnFrame) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("dwarf.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                      "--", target("ps-chain"), "1500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Call graph: dwarf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("DWARF unwinding: "), std::string::npos) << r.err;
  const auto p = load(out);
  const Chain c = chain_of(p);
  ASSERT_GT(c.hot, 500) << r.err;
  EXPECT_GE(c.reaching_main * 100, c.hot * 95) << c.reaching_main << " of " << c.hot;
  EXPECT_GE(c.full_chain * 100, c.hot * 95) << c.full_chain << " of " << c.hot;

  // mix() has no frame of its own: it shows as an inline frame of chain_hot, at its own line.
  const int line = mix_line();
  ASSERT_GT(line, 0);
  std::int64_t inlined_at_line = 0, hot_total = 0;
  for (const auto& s : p.samples()) {
    const auto& leaf = p.location(s.location_ids.front());
    if (leaf.lines.size() < 2) continue;
    const auto& inner = leaf.lines.front();
    const auto& fn = p.function(inner.function_id);
    const std::string name = profile::function_name(p, fn);
    if (name.find("perfscope_targets::mix") == std::string::npos) continue;
    hot_total += s.values[0];
    if (inner.line == line && p.string(fn.filename).ends_with("targets/chain.cpp")) {
      inlined_at_line += s.values[0];
    }
    EXPECT_NE(
        profile::function_name(p, p.function(leaf.lines.back().function_id)).find("chain_hot"),
        std::string::npos);
  }
  EXPECT_GE(hot_total * 100, c.hot * 90) << "most samples are in the inlined loop";
  EXPECT_GE(inlined_at_line * 100, hot_total * 90) << "chain.cpp:" << line;

  // report marks the frame and groups by line.
  const auto rep = run({perfscope_binary(), "report", "-i", out, "--top", "5"});
  EXPECT_NE(rep.out.find("perfscope_targets::mix(unsigned long) (inlined)"), std::string::npos)
      << rep.out;
  EXPECT_NE(rep.out.find("% of samples with a user stack reach main or a thread start"),
            std::string::npos)
      << rep.out;
  const auto lines = run({perfscope_binary(), "report", "-i", out, "--lines", "--top", "3"});
  EXPECT_NE(lines.out.find("chain.cpp:" + std::to_string(line)), std::string::npos) << lines.out;
}

TEST(RecordDwarf, FramePointersLoseTheCallersOfTheSameTarget) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto dwarf = dir.file("dwarf.pb.gz");
  const auto fp = dir.file("fp.pb.gz");
  ASSERT_EQ(run({perfscope_binary(), "record", "--backend", "perf", "--call-graph", "dwarf", "-F",
                 "499", "-o", dwarf, "--", target("ps-chain"), "1000"})
                .exit_code,
            0);
  const auto r = run({perfscope_binary(), "record", "--backend", "perf", "--call-graph", "fp", "-F",
                      "499", "-o", fp, "--", target("ps-chain"), "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Chain with_dwarf = chain_of(load(dwarf));
  const Chain with_fp = chain_of(load(fp));
  ASSERT_GT(with_fp.hot, 200);
  EXPECT_GE(with_dwarf.reaching_main * 100, with_dwarf.hot * 95);
  EXPECT_LE(with_fp.reaching_main * 100, with_fp.hot * 20)
      << "frame pointers cannot get through code built without them";
  const auto reach_fp = profile::user_stack_reach(load(fp));
  const auto reach_dwarf = profile::user_stack_reach(load(dwarf));
  EXPECT_LT(reach_fp.reaching_root * 100, reach_fp.with_user_stack * 20);
  EXPECT_GE(reach_dwarf.reaching_root * 100, reach_dwarf.with_user_stack * 95);
  EXPECT_NE(r.err.find("User stacks complete (reach the program's entry or a thread start): "),
            std::string::npos)
      << r.err;
}

TEST(RecordDwarf, StacksThroughLibcQsortReachMain) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("sort.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                      "--", target("ps-sort"), "1500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = load(out);
  std::int64_t comparator = 0, through_libc = 0;
  std::string seen;  // a few comparator stacks, innermost first, to explain a failure
  int shown = 0;
  for (const auto& s : p.samples()) {
    const auto f = outer_frames(p, s);
    const long cmp = index_of(f, "compare_values");
    if (cmp < 0) continue;
    comparator += s.values[0];
    if (shown < 3) {
      ++shown;
      seen += "\n  stack:";
      for (std::size_t i = 0; i < f.size() && i < s.location_ids.size(); ++i) {
        seen += " " + f[i] + " [" +
                std::string(profile::module_name(p, p.location(s.location_ids[i]).mapping_id)) +
                "]";
      }
    }
    const long round = index_of(f, "perfscope_targets::sort_round");
    const long m = index_of(f, "main");
    // Between the comparator and its caller: libc's sort (no frame pointers), qsort included.
    bool libc_between = false;
    for (long i = cmp + 1; i < round && round > 0; ++i) {
      const auto& loc = p.location(s.location_ids[static_cast<std::size_t>(i)]);
      if (profile::module_name(p, loc.mapping_id).starts_with("libc.so")) libc_between = true;
    }
    if (round > cmp + 1 && m == round + 1 && libc_between) through_libc += s.values[0];
  }
  ASSERT_GT(comparator, 300) << r.err;
  EXPECT_GE(through_libc * 100, comparator * 90)
      << through_libc << " of " << comparator << seen << "\n"
      << r.err;
}

TEST(RecordDwarf, TooSmallAStackCopyIsReportedWithTheFix) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("small.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf,64", "-F", "499", "-o",
                      out, "--", target("ps-chain"), "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stack copy too small (64 bytes copied; raise it: --call-graph dwarf,256)"),
            std::string::npos)
      << r.err;
  const auto p = load(out);
  bool noted = false;
  for (auto c : p.comments) noted |= p.string(c).find("stack copy too small") != std::string::npos;
  EXPECT_TRUE(noted) << "the profile keeps the quality summary for report";
  const Chain c = chain_of(p);
  EXPECT_LT(c.reaching_main * 2, c.hot) << "64 bytes cannot hold four frames";
}

// With the perf ring backend (with eBPF, auto is the in-kernel walker: record_cfi_test.cpp).
TEST(RecordDwarf, AutoUnwindsWithDwarfOnlyWhereFramePointersAreMissing) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto nofp = run({perfscope_binary(), "record", "--backend", "perf", "-F", "499", "-o",
                         dir.file("a.pb.gz"), "--", target("ps-chain"), "300"});
  ASSERT_EQ(nofp.exit_code, 0) << nofp.err;
  EXPECT_NE(nofp.err.find("Call graph: dwarf (auto: "), std::string::npos) << nofp.err;
  EXPECT_NE(nofp.err.find("lacks frame pointers"), std::string::npos) << nofp.err;
  const auto fp = run({perfscope_binary(), "record", "--backend", "perf", "-F", "499", "-o",
                       dir.file("b.pb.gz"), "--", target("ps-burn"), "300"});
  ASSERT_EQ(fp.exit_code, 0) << fp.err;
  EXPECT_NE(fp.err.find("Call graph: fp (auto: "), std::string::npos) << fp.err;
  EXPECT_NE(fp.err.find("keeps frame pointers"), std::string::npos) << fp.err;
  const auto system_wide = run(
      {perfscope_binary(), "record", "--backend", "perf", "-d", "0.3", "-o", dir.file("c.pb.gz")});
  ASSERT_EQ(system_wide.exit_code, 0) << system_wide.err;
  EXPECT_NE(system_wide.err.find("Call graph: fp (auto: frame pointers system-wide"),
            std::string::npos)
      << system_wide.err;
}

// perf's own DWARF unwinding of the same target agrees on the hot function and its callers. perf
// 6.1's build-id cache code can abort when several perfs share ~/.debug (tests run in parallel;
// CI saw `perf report` die at util/build-id.c:1010): record runs without the cache (-N -B), and
// every perf here gets a build-id directory of its own in the test's directory.
TEST(RecordDwarf, AgreesWithPerfReportOnTopFunctionsAndCallers) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  TempDir dir;
  const auto perf_data = dir.file("perf.data");
  const std::string perf = find_on_path("perf");  // run() does not search PATH
  const std::string cache = dir.file("buildid");
  const auto rec = run({perf, "--buildid-dir", cache, "record", "-q", "-N", "-B", "--call-graph",
                        "dwarf", "-F", "999", "-o", perf_data, "--", target("ps-chain"), "1000"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto report = run({perf, "--buildid-dir", cache, "report", "-i", perf_data, "--no-children",
                           "--stdio", "--sort", "symbol", "-g", "none"});
  // The reference tool itself crashing is not something perfscope can be measured against.
  if (report.exit_code == 128 + 6 && report.err.find("util/build-id.c") != std::string::npos) {
    GTEST_SKIP() << "requires a perf report that does not abort; perf 6.1 crashed in its "
                    "build-id code: "
                 << report.err;
  }
  ASSERT_EQ(report.exit_code, 0) << report.err;
  // "    97.99%  [.] perfscope_targets::chain_hot  -  -": the first row is perf's top function.
  std::string perf_top;
  std::istringstream rows(report.out);
  for (std::string row; std::getline(rows, row);) {
    const auto mark = row.find("] ");
    if (row.empty() || row[0] == '#' || mark == std::string::npos) continue;
    perf_top = row.substr(mark + 2);
    perf_top = perf_top.substr(0, perf_top.find("  "));
    break;
  }
  // perf script: the callers of the top function, by how often each chain occurs.
  const auto script =
      run({perf, "--buildid-dir", cache, "script", "-i", perf_data, "-F", "ip,sym"});
  if (script.exit_code == 128 + 6 && script.err.find("util/build-id.c") != std::string::npos) {
    GTEST_SKIP() << "requires a perf script that does not abort; perf 6.1 crashed in its "
                    "build-id code: "
                 << script.err;
  }
  ASSERT_EQ(script.exit_code, 0) << script.err;
  std::map<std::string, std::int64_t> perf_callers;
  std::istringstream lines(script.out);
  std::vector<std::string> frames;
  auto finish_sample = [&] {
    const long hot = index_of(frames, perf_top);
    if (hot >= 0 && hot + 4 < static_cast<long>(frames.size())) {
      std::string chain;
      for (long i = hot + 1; i <= hot + 4; ++i) chain += frames[static_cast<std::size_t>(i)] + ";";
      ++perf_callers[chain];
    }
    frames.clear();
  };
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t") == std::string::npos) {
      finish_sample();
      continue;
    }
    std::istringstream fields(line);
    std::string ip, name;
    fields >> ip;
    std::getline(fields >> std::ws, name);
    if (name.ends_with(" (inlined)")) continue;  // perfscope's out-of-line frames are compared
    frames.push_back(name);
  }
  finish_sample();

  const auto out = dir.file("perfscope.pb.gz");
  ASSERT_EQ(run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                 "--", target("ps-chain"), "1000"})
                .exit_code,
            0);
  const auto p = load(out);
  std::map<std::string, std::int64_t> self;
  std::map<std::string, std::int64_t> callers;
  for (const auto& s : p.samples()) {
    const auto f = outer_frames(p, s);
    if (f.empty()) continue;
    self[f.front()] += s.values[0];
    const long hot = index_of(f, perf_top);
    if (hot >= 0 && hot + 4 < static_cast<long>(f.size())) {
      std::string chain;
      for (long i = hot + 1; i <= hot + 4; ++i) chain += f[static_cast<std::size_t>(i)] + ";";
      callers[chain] += s.values[0];
    }
  }
  auto top = std::max_element(self.begin(), self.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
  ASSERT_NE(top, self.end());
  EXPECT_EQ(top->first, perf_top) << "perf's top function: " << perf_top;
  auto main_chain = [](const std::map<std::string, std::int64_t>& m) {
    auto it = std::max_element(m.begin(), m.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
    return it == m.end() ? std::string() : it->first;
  };
  EXPECT_EQ(main_chain(callers), main_chain(perf_callers));
  EXPECT_EQ(main_chain(callers),
            "perfscope_targets::chain_c;perfscope_targets::chain_b;perfscope_targets::chain_a;"
            "main;");
}

TEST(RecordDwarf, InterruptedRecordingIsCompleteAndUnwound) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("stopped.pb.gz");
  testing::RunOptions opts;
  opts.interrupt_after_ms = 0;
  // Once ps-chain has burned 0.3 s of CPU: about 300 samples at 999 Hz.
  opts.interrupt_when = [](int pid) { return testing::child_has_run(pid, "ps-chain", 0.3); };
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                      "--", target("ps-chain"), "20000"},
                     opts);
  EXPECT_EQ(r.exit_code, 128 + SIGINT) << r.err;
  const Chain c = chain_of(load(out));
  EXPECT_GT(c.hot, 100);
  EXPECT_GE(c.full_chain * 100, c.hot * 95);
}

TEST(RecordDwarf, BadCallGraphRequestsFailClearly) {
  TempDir dir;
  const auto out = dir.file("never.pb.gz");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--call-graph", "dwarf,99999"}, "bad stack copy size '99999'"},
      {{"--call-graph", "dwarf,0"}, "bad stack copy size '0'"},
      {{"--call-graph", "dwarf,lots"}, "bad stack copy size 'lots'"},
      {{"--call-graph", "fp,4096"}, "--call-graph fp takes no size"},
      {{"--call-graph", "lbr"}, "unknown call-graph mode 'lbr'"},
      {{"--backend", "bpf", "--call-graph", "dwarf"}, "only the perf ring buffers carry"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{perfscope_binary(), "record", "-o", out};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--", target("ps-chain"), "10"});
    const auto r = run(argv);
    SCOPED_TRACE(args.back());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST(RecordDwarf, WorksUnprivilegedOnOwnCommand) {
  PS_REQUIRE(root());
  TempDir dir;
  testing::RunOptions nobody;
  nobody.as_nobody = true;
  nobody.cwd = dir.path();
  const auto r =
      run({testing::perfscope_binary_for_nobody(), "record", "--call-graph", "dwarf", "-F", "499",
           "-o", "own.pb.gz", "--", testing::target_for_nobody("ps-chain"), "600"},
          nobody);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Chain c = chain_of(load(dir.file("own.pb.gz")));
  EXPECT_GT(c.hot, 100) << r.err;
  EXPECT_GE(c.full_chain * 100, c.hot * 95) << r.err;
}

}  // namespace
}  // namespace perfscope
