// perf script text in every dialect (issue 21): golden files in tests/data/perf_script/ (NAME.txt
// read with periods as weights must fold to NAME.folded; PERFSCOPE_BLESS=1 rewrites those), written
// by this machine's perf in each `perf script -F` layout, and by hand for old perfs, JIT maps
// (V8, perf-map-agent) and FlameGraph's test-file style; period weighting by hand and against
// `perf report` on a real frequency-mode recording whose periods vary.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "formats/detect.hpp"
#include "formats/perf_script.hpp"
#include "formats/stack_profile.hpp"
#include "profile/query.hpp"
#include "support/run.hpp"

namespace perfscope::formats {
namespace {

using output::FrameKind;
using output::StackTree;

const std::filesystem::path kDir = std::filesystem::path(PERFSCOPE_TEST_DATA) / "perf_script";

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
  const auto path = kDir / name;
  const char* bless = std::getenv("PERFSCOPE_BLESS");
  if (bless != nullptr && std::string(bless) == "1") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: PERFSCOPE_BLESS=1 writes it";
  EXPECT_EQ(slurp(path), actual) << path << " differs (PERFSCOPE_BLESS=1 rewrites it)";
}

struct Read {
  StackTree tree;
  std::string folded;
  std::vector<std::string> notes;
  std::size_t samples = 0, callchains = 0, with_period = 0;
};

// NAME.txt read as load_input reads perf script text: periods as weights.
std::unique_ptr<Read> read_file(const std::string& name,
                                PerfScriptOptions o = {.weight_by_period = true}) {
  auto r = std::make_unique<Read>();
  const std::string text = slurp(kDir / (name + ".txt"));
  EXPECT_FALSE(text.empty()) << name;
  EXPECT_EQ(detect_format(text.substr(0, 1u << 16)), Format::perf_script) << name;
  PerfScriptReader reader(r->tree, name + ".txt", std::move(o));
  const auto st = reader.add_text(text);
  EXPECT_TRUE(st) << name << ": " << (st ? "" : st.error().describe());
  r->folded = output::folded_from_tree(r->tree);
  r->notes = reader.notes();
  r->samples = reader.samples();
  r->callchains = reader.callchains();
  r->with_period = reader.with_period();
  return r;
}

// The stacks of a folded text, without their counts.
std::string stacks_of(const std::string& folded) {
  std::string out;
  std::istringstream in(folded);
  for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(' ')) + "\n";
  return out;
}

bool has_note(const Read& r, std::string_view part) {
  for (const auto& n : r.notes) {
    if (n.find(part) != std::string::npos) return true;
  }
  return false;
}

// Real `perf script` output of one recording of ps-burn (perf 6.1, -g -e cpu-clock -F 999), in
// each layout, and of one recorded without -g.
const std::vector<std::string> kRealCallchain = {"default",          "header",
                                                 "fields_period",    "fields_pid_tid_no_period",
                                                 "fields_no_pid",    "fields_tid_period",
                                                 "fields_comm_only", "ip_sym",
                                                 "period_ip_sym",    "srcline",
                                                 "mmap_task_events"};
const std::vector<std::string> kRealFlat = {"no_callchain", "no_callchain_comm_tid_period",
                                            "no_callchain_ip_sym", "no_callchain_srcline"};
const std::vector<std::string> kHandMade = {"old_layout", "jit_v8_java", "periods_unequal",
                                            "flamegraph_style"};

TEST(PerfScriptDialects, GoldenFoldedStacksOfEveryLayout) {
  std::vector<std::string> all = kRealCallchain;
  all.insert(all.end(), kRealFlat.begin(), kRealFlat.end());
  all.insert(all.end(), kHandMade.begin(), kHandMade.end());
  for (const auto& name : all) {
    SCOPED_TRACE(name);
    auto r = read_file(name);
    EXPECT_GT(r->samples, 0u);
    expect_golden(name + ".folded", r->folded);
  }
}

TEST(PerfScriptDialects, EveryCallchainLayoutOfOneRecordingGivesTheSameStacks) {
  // Layouts with DSOs and COMMs name frames alike: the same stacks, whatever else -F printed.
  const auto base = read_file("default");
  EXPECT_EQ(base->samples, 60u);
  EXPECT_EQ(base->callchains, 60u);
  EXPECT_EQ(base->with_period, 60u);
  EXPECT_NE(base->folded.find("ps-burn;__libc_start_call_main;main;perfscope_targets::work;"
                              "perfscope_targets::burn_a "),
            std::string::npos)
      << base->folded;
  for (const char* name : {"header", "fields_period", "srcline", "mmap_task_events"}) {
    SCOPED_TRACE(name);
    const auto r = read_file(name);
    EXPECT_EQ(r->folded, base->folded);  // counts too: these print the period
    EXPECT_TRUE(r->notes.empty()) << r->notes[0];
  }
  for (const char* name : {"fields_pid_tid_no_period", "fields_no_pid", "fields_comm_only"}) {
    SCOPED_TRACE(name);
    const auto r = read_file(name);
    EXPECT_EQ(r->samples, 60u);
    EXPECT_TRUE(has_note(*r, "no sample periods, so each sample counts 1")) << r->folded;
  }
  EXPECT_EQ(stacks_of(read_file("fields_pid_tid_no_period")->folded), stacks_of(base->folded));
  // Without a COMM there is no COMM root; the frames are the same.
  const auto tid = read_file("fields_tid_period");
  EXPECT_EQ(tid->with_period, 60u);
  std::string without_comm;
  std::istringstream in(base->folded);
  std::map<std::string, std::int64_t> merged;
  for (std::string line; std::getline(in, line);) {
    const auto gap = line.rfind(' ');
    merged[line.substr(line.find(';') + 1, gap - line.find(';') - 1)] +=
        std::stoll(line.substr(gap + 1));
  }
  for (const auto& [stack, n] : merged) without_comm += stack + " " + std::to_string(n) + "\n";
  EXPECT_EQ(tid->folded, without_comm);
  // -F ip,sym: no header at all (an empty line before each callchain), no COMM, no period.
  const auto ip_sym = read_file("ip_sym");
  EXPECT_EQ(ip_sym->samples, 60u);
  EXPECT_EQ(ip_sym->callchains, 60u);
  const auto period_ip_sym = read_file("period_ip_sym");
  EXPECT_EQ(period_ip_sym->samples, 60u);
  EXPECT_EQ(period_ip_sym->with_period, 60u);
}

TEST(PerfScriptDialects, LayoutsWithoutCallchains) {
  const auto base = read_file("no_callchain");
  EXPECT_EQ(base->samples, 150u);
  EXPECT_EQ(base->callchains, 0u);
  EXPECT_NE(base->folded.find("ps-burn;perfscope_targets::burn_a "), std::string::npos)
      << base->folded;
  EXPECT_EQ(read_file("no_callchain_srcline")->folded, base->folded);
  EXPECT_EQ(read_file("no_callchain_comm_tid_period")->folded, base->folded);
  const auto ip_sym = read_file("no_callchain_ip_sym");
  EXPECT_EQ(ip_sym->samples, 150u);  // one line each, no header, no COMM
  EXPECT_NE(ip_sym->folded.find("\nperfscope_targets::burn_a "), std::string::npos)
      << ip_sym->folded;
}

TEST(PerfScriptDialects, OldLayoutsJitMapsAndJavaAreNamedAsFlameGraphNamesThem) {
  const auto old = read_file("old_layout");
  EXPECT_EQ(old->samples, 4u);
  EXPECT_NE(
      old->folded.find("dd;dd_copy;[libc-2.15.so];vfs_read_[k];read_zero_[k];__clear_user_[k] 1"),
      std::string::npos)
      << old->folded;
  EXPECT_NE(old->folded.find("dd;dd_write;__write_nocancel;tcp_sendmsg_[k] 1"), std::string::npos)
      << old->folded;
  EXPECT_NE(old->folded.find(";start_kernel_[k];"), std::string::npos) << old->folded;

  const auto jit = read_file("jit_v8_java");
  for (const char* frame :
       {";LazyCompile:*fib /srv/app/fib.js:3:13_[j] 250000", ";RegExp:(a|b)+c_[j] 250000",
        ";org/foo/Main::run_[j];org/foo/Bar::method_[j] ",
        "C2 CompilerThre;Interpreter_[j];java/lang/Thread:.run_[j];"
        "org/mozilla/javascript/WrapFactory:.wrap_[j] 1000000"}) {
    EXPECT_NE(jit->folded.find(frame), std::string::npos) << frame << "\n" << jit->folded;
  }
  auto f = parse_perf_script_frame("7f00dead0100 Lorg/foo/Bar;::method (/tmp/perf-4242.map)");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "org/foo/Bar::method");
  EXPECT_EQ(f->kind, FrameKind::jit);
  auto raw = parse_perf_script_frame("7f00 Lorg/foo/Bar;::method (/tmp/perf-1.map)", false);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->name, "Lorg/foo/Bar:::method");
  // Not a class descriptor: left alone.
  EXPECT_EQ(parse_perf_script_frame("7f00 Log::write(int) (/bin/x)")->name, "Log::write(int)");

  const auto fg = read_file("flamegraph_style");
  EXPECT_NE(fg->folded.find("V8 WorkerThread;uv_run;LazyCompile:~onRequest /srv/http.js:42_[j] 1"),
            std::string::npos)
      << fg->folded;
  EXPECT_NE(fg->folded.find("java;start_thread;"), std::string::npos) << fg->folded;
  EXPECT_NE(fg->folded.find("false;[unknown] 1"), std::string::npos) << fg->folded;
}

TEST(PerfScriptDialects, HeaderFieldsAndLoneNumbers) {
  auto tid = parse_perf_script_header(" 7552 ", true);
  ASSERT_TRUE(tid);
  EXPECT_EQ(tid->pid, 7552);
  EXPECT_FALSE(tid->period);
  auto period = parse_perf_script_header("   1001001 ", true);
  ASSERT_TRUE(period);
  EXPECT_EQ(period->pid, -1);
  EXPECT_EQ(period->period, 1001001);
  EXPECT_FALSE(parse_perf_script_header(" 7552 "));  // strict: nothing shows it is perf's
  auto both = parse_perf_script_header("gzip 24837    1001001  ffffffff8177d51a elf_load", true);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->comm, "gzip");
  EXPECT_EQ(both->pid, 24837);
  EXPECT_EQ(both->period, 1001001);
  EXPECT_EQ(both->rest, "ffffffff8177d51a elf_load");
  auto no_pid = parse_perf_script_header("gzip   377.799956: cpu-clock: ");
  ASSERT_TRUE(no_pid);
  EXPECT_EQ(no_pid->comm, "gzip");
  EXPECT_EQ(no_pid->event, "cpu-clock");
  auto mmap = parse_perf_script_header(
      "gzip  7552 PERF_RECORD_MMAP2 7552/7552: [0x5586(0xf000) @ 0x3000 fe:00 1 0]: r-xp /x");
  ASSERT_TRUE(mmap);
  EXPECT_TRUE(mmap->side_band);
  EXPECT_TRUE(
      parse_perf_script_header("PERF_RECORD_MMAP -1/0: [0xffff(0x12) @ 0x0]: x k")->side_band);
  EXPECT_FALSE(parse_perf_script_header("this is not a profile", true));
}

TEST(PerfScriptDialects, DetectionNeedsEvidenceOfPerf) {
  EXPECT_EQ(detect_format("gzip \n\tffffffff8177d51a elf_load\n"), Format::perf_script);
  EXPECT_EQ(detect_format("\n\tffffffff8177d51a elf_load\n"), Format::perf_script);
  EXPECT_EQ(detect_format("PERF_RECORD_MMAP -1/0: [0xffff(0x12) @ 0x0]: x k\n"),
            Format::perf_script);
  EXPECT_EQ(detect_format("main;parse 12\nmain;serve 3\n"), Format::folded);
  EXPECT_EQ(detect_format("this is not a profile\n"), std::nullopt);
  EXPECT_EQ(detect_format("gzip\nmore prose\n"), std::nullopt);
  EXPECT_FALSE(head_decides("gzip 7552\n"));  // decided by the line after it
  EXPECT_TRUE(head_decides("gzip 7552\n\tffff f\n"));
}

TEST(PerfScriptDialects, CutOrForeignLinesAreErrorsWithTheLine) {
  StackTree t;
  PerfScriptReader bare(t, "p.txt");
  const auto st = bare.add_text("gzip\nmore prose\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().op, "p.txt:1: 'gzip' is not a sample header");
  PerfScriptReader cut(t, "p.txt");
  const auto cut_st = cut.add_text("a 1 1.0: cycles: \n\t10 f+0x1 (/bin/a)\n\t20 g+0x1 (/usr/li");
  ASSERT_FALSE(cut_st);
  EXPECT_EQ(cut_st.error().op,
            "p.txt:3: the frame line has no '(MODULE)' at its end: was the output cut short?");
}

// Periods weigh samples: 3 samples of a with periods 1, 1, 2 and one of b with period 96 give b
// 96% (perf report's figure), where counting samples would give it 25%.
TEST(PerfScriptDialects, PeriodsAreTheWeightsAndTheDefaultSampleType) {
  StackTree t;
  PerfScriptReader r(t, "periods.txt", {.weight_by_period = true});
  ASSERT_TRUE(r.add_text(slurp(kDir / "periods_unequal.txt")));
  EXPECT_EQ(t.total(), 100);
  EXPECT_EQ(r.event(), "cycles:u");
  const auto notes = r.notes();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("1 samples of instructions:u were skipped"), std::string::npos)
      << notes[0];
  const profile::Profile p = profile_from_tree(t, r.profile_options());
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.string(p.sample_types[0].type), "samples");
  EXPECT_EQ(p.string(p.sample_types[1].type), "cycles");
  EXPECT_EQ(p.string(p.default_sample_type), "cycles");
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> leaf;  // samples, weight
  for (const auto& s : p.samples()) {
    const auto& loc = p.location(s.location_ids.front());
    auto& e = leaf[std::string(p.string(p.function(loc.lines.front().function_id).name))];
    e.first += s.values[0];
    e.second += s.values[1];
  }
  EXPECT_EQ(leaf["a"], std::make_pair(std::int64_t{3}, std::int64_t{4}));
  EXPECT_EQ(leaf["b"], std::make_pair(std::int64_t{1}, std::int64_t{96}));

  // cpu-clock's periods are nanoseconds.
  StackTree c;
  PerfScriptReader rc(c, "c.txt", {.weight_by_period = true});
  ASSERT_TRUE(rc.add_text("a 1 1.0: 250000 cpu-clock:ppp: \n\t10 f+0x1 (/bin/a)\n"));
  const auto pc = profile_from_tree(c, rc.profile_options());
  EXPECT_EQ(pc.string(pc.sample_types[1].type), "cpu");
  EXPECT_EQ(pc.string(pc.sample_types[1].unit), "nanoseconds");
}

// A real frequency-mode recording whose periods vary (page-faults at 4 kHz: the kernel raises the
// period while faults come fast): each top function's share, weighted by period, within 1 point of
// `perf report --no-children --sort sym`.
class PerfScriptAgainstPerfReport : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* p : {"/usr/bin/perf", "/usr/local/bin/perf"}) {
      if (::access(p, X_OK) == 0) {
        perf_ = p;
        break;
      }
    }
    if (perf_.empty()) GTEST_SKIP() << "perf is not installed (Debian: apt-get install linux-perf)";
    char tmpl[] = "/tmp/perfscope-psdialects-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // perf 6.1 sometimes aborts in util/build-id.c while other tests load BPF programs: twice more,
  // then the reason is returned (empty: `r` is perf's own result).
  std::string run_perf(const std::vector<std::string>& argv, testing::RunResult& r) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      r = testing::run(argv);
      if (!(r.exit_code == 134 && r.err.find("util/build-id.c") != std::string::npos)) return {};
    }
    return "perf aborted three times in util/build-id.c (a perf 6.1 bug): " + r.err.substr(0, 200);
  }
  std::string perf_, dir_;
};

TEST_F(PerfScriptAgainstPerfReport, PeriodWeightedSharesMatchPerfReport) {
  const std::string data = dir_ + "/perf.data";
  testing::RunResult rec, script, report;
  std::string why =
      run_perf({perf_, "record", "-q", "-N", "-B", "--no-bpf-event", "-e", "page-faults", "-F",
                "4000", "-g", "-o", data, "--", testing::target("ps-touch_pages"), "150000"},
               rec);
  if (!why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  if (!(why = run_perf({perf_, "script", "-i", data}, script)).empty()) GTEST_SKIP() << why;
  ASSERT_EQ(script.exit_code, 0) << script.err;
  if (!(why = run_perf({perf_, "report", "-i", data, "--stdio", "--no-children", "--sort", "sym"},
                       report))
           .empty()) {
    GTEST_SKIP() << why;
  }
  ASSERT_EQ(report.exit_code, 0) << report.err;

  // perf report: "    97.12%  [.] main".
  std::map<std::string, double> expected;
  std::istringstream lines(report.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string pct, kind, sym;
    if (!(words >> pct >> kind) || pct.size() < 2 || pct.back() != '%' || kind.size() != 3 ||
        kind.front() != '[') {
      continue;
    }
    std::getline(words >> std::ws, sym);
    expected[sym] += std::stod(pct.substr(0, pct.size() - 1));
  }
  ASSERT_FALSE(expected.empty()) << report.out;

  StackTree t, counted;
  PerfScriptReader r(t, "perf script", {.weight_by_period = true});
  ASSERT_TRUE(r.add_text(script.out));
  PerfScriptReader rc(counted, "perf script", {});
  ASSERT_TRUE(rc.add_text(script.out));
  auto self_share = [](const StackTree& tree) {
    std::map<std::string, double> share;
    for (std::uint32_t id = 1; id < tree.size(); ++id) {
      if (tree.node(id).self == 0) continue;
      share[std::string(tree.name(tree.node(id).name))] +=
          100.0 * static_cast<double>(tree.node(id).self) / static_cast<double>(tree.total());
    }
    return share;
  };
  const auto weighted = self_share(t), by_count = self_share(counted);
  std::vector<std::pair<double, std::string>> top;
  for (const auto& [sym, pct] : expected) top.emplace_back(pct, sym);
  std::sort(top.rbegin(), top.rend());
  top.resize(std::min<std::size_t>(top.size(), 5));
  for (const auto& [pct, sym] : top) {
    const auto it = weighted.find(sym);
    const double ours = it == weighted.end() ? 0.0 : it->second;
    const auto c = by_count.find(sym);
    EXPECT_NEAR(ours, pct, 1.0) << sym << " (counting samples instead: "
                                << (c == by_count.end() ? 0.0 : c->second) << "%)\n"
                                << report.out.substr(0, 3000);
  }
}

}  // namespace
}  // namespace perfscope::formats
