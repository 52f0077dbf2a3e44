// perf.data through the real binary: files the real `perf record` writes in this test (frame
// pointer callchains, --call-graph dwarf, system-wide, pipe mode) read by `perfscope report`,
// whose top functions (self and total share, weighed by period) must agree with
// `perf report --stdio --no-children` and `--children` on the same file within 1 point.
//
// perf 6.1's build-id cache code can abort when several perfs share ~/.debug (tests run in
// parallel): every perf here gets a build-id directory of its own in the test's directory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/files.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::RunResult;
using testing::target;
using testing::TempDir;

// Function -> share of the total in percent.
using Shares = std::map<std::string, double>;

struct PerfShares {
  Shares self, total;
  // Names perf lists more than once (overloads, which perf names without parameters, or the same
  // function in two binaries): in --children their rows may count the same samples twice (an
  // overload calling another), so their sum is not comparable and they are left out.
  std::set<std::string> repeated;
};

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t");
  const auto last = s.find_last_not_of(" \t");
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

// perf report's rows: "    75.12%  [.] perfscope_targets::burn_a" (--no-children) or
// "    99.50%     0.00%  [.] main" (--children: children, then self).
Shares parse_perf_report(const std::string& text, std::set<std::string>* repeated = nullptr) {
  Shares out;
  std::istringstream rows(text);
  for (std::string row; std::getline(rows, row);) {
    if (row.empty() || row[0] == '#') continue;
    auto mark = row.find("] ");
    if (mark == std::string::npos || mark < 3 || row[mark - 2] != '[') continue;
    std::istringstream numbers(row.substr(0, mark - 2));
    std::string pct;
    if (!(numbers >> pct) || !pct.ends_with('%')) continue;
    const double first = std::stod(pct);
    std::string name = row.substr(mark + 2);
    name = trim(name.substr(0, name.find("  ")));  // columns perf adds after the symbol
    if (name.empty()) continue;
    if (repeated != nullptr && out.contains(name)) repeated->insert(name);
    out[name] += first;  // --children: the first column is the children's share
  }
  return out;
}

// "ns::f(unsigned long, unsigned long)" -> "ns::f", as perf report names functions.
std::string without_parameters(std::string name) {
  if (!name.ends_with(')')) return name;
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    if (name[i] == '(' && --depth == 0) return i == 0 ? name : name.substr(0, i);
  }
  return name;
}

// perfscope's shares as perf report computes them, from the profile perfscope read (converted to
// pprof): self by the leaf's out-of-line function (perf gives an inlined leaf's samples to the
// function it is inlined into), total by every function on the stack, inlined ones named
// "f (inlined)" as perf does; each sample weighed by the profile's default type (its period).
// Of the samples of command `comm` only, when given.
PerfShares perfscope_shares(const profile::Profile& p, const std::string& comm = {}) {
  PerfShares out;
  auto index = profile::sample_type_index(p, "", "profile");
  if (!index) return out;
  double sum = 0;
  for (const auto& s : p.samples()) {
    if (!comm.empty()) {
      std::string sample_comm;
      for (const auto& label : s.labels) {
        if (p.string(label.key) == "comm") sample_comm = p.string(label.str);
      }
      if (sample_comm != comm) continue;
    }
    const double v = static_cast<double>(s.values[*index]);
    sum += v;
    std::set<std::string> seen;
    bool leaf = true;
    for (auto id : s.location_ids) {
      const auto& l = p.location(id);
      for (std::size_t i = 0; i < l.lines.size(); ++i) {
        std::string name =
            without_parameters(profile::function_name(p, p.function(l.lines[i].function_id)));
        if (leaf && i + 1 == l.lines.size()) out.self[name] += v;
        if (i + 1 < l.lines.size()) name += " (inlined)";
        if (seen.insert(name).second) out.total[name] += v;
      }
      leaf = false;
    }
  }
  for (auto* shares : {&out.self, &out.total}) {
    for (auto& [name, value] : *shares) value = sum > 0 ? 100.0 * value / sum : 0.0;
  }
  return out;
}

// perf record's exit: 0, or the test is skipped when perf itself aborted in its build-id code
// (perf 6.1's util/build-id.c assertion, seen when perfs run side by side).
#define PERF_RECORDED_OR_SKIP(r)                                                             \
  do {                                                                                       \
    if ((r).exit_code == 128 + 6 && (r).err.find("build-id.c") != std::string::npos) {       \
      GTEST_SKIP() << "requires a perf record that does not abort; perf 6.1 crashed in its " \
                      "build-id code: "                                                      \
                   << (r).err;                                                               \
    }                                                                                        \
    ASSERT_EQ((r).exit_code, 0) << (r).err;                                                  \
  } while (0)

class PerfData : public ::testing::Test {
 protected:
  void SetUp() override { perf_ = find_on_path("perf"); }

  // perf with a build-id cache of the test's own.
  // perf 6.1 aborts in its build-id code (util/build-id.c:1010) now and then while other programs
  // load BPF (the suite's own eBPF tests, run alongside): such a run is tried again, up to 5
  // times, before the test skips for it (PERF_RECORDED_OR_SKIP).
  RunResult perf(std::vector<std::string> args) const {
    args.insert(args.begin(), {perf_, "--buildid-dir", dir_.file("buildid")});
    RunResult r = run(args);
    for (int tries = 1;
         tries < 5 && r.exit_code == 128 + 6 && r.err.find("build-id.c") != std::string::npos;
         ++tries) {
      r = run(args);
    }
    return r;
  }

  RunResult perfscope(std::vector<std::string> args) const {
    args.insert(args.begin(), perfscope_binary());
    return run(args, {.cwd = dir_.path()});
  }

  // perf report's shares of `file`, self (--no-children) and total (--children), or why it
  // could not say (perf itself aborting is not something to measure perfscope against).
  bool perf_report(const std::string& file, PerfShares& out, std::string& text,
                   std::string& why) const {
    for (bool children : {false, true}) {
      std::vector<std::string> args{"report",
                                    "-i",
                                    file,
                                    "--stdio",
                                    "--sort",
                                    "symbol",
                                    children ? "--children" : "--no-children",
                                    "--percent-limit",
                                    "0"};
      const auto r = perf(args);
      if (r.exit_code != 0) {
        why = "perf report failed (" + std::to_string(r.exit_code) + "): " + r.err;
        return false;
      }
      (children ? out.total : out.self) = parse_perf_report(r.out, &out.repeated);
      text += r.out;
    }
    return true;
  }

  // The shares of command `comm`'s samples as perf script lists them, the way perf report computes
  // shares (self: the leaf's out-of-line function; total: every function on the stack, inlined
  // ones as "f (inlined)"), each sample weighed by its period. perf report's own --comms with
  // --percentage relative is not used for this: on a system-wide file it gave shares its own perf
  // script contradicts (pvm_irq_enable at 20.06% of a command's samples, where perf script lists it
  // in 3 of 483).
  bool perf_script_shares(const std::string& file, const std::string& comm, PerfShares& out,
                          std::string& text, std::string& why) const {
    const auto r = perf({"script", "-i", file, "--comms", comm});
    if (r.exit_code != 0) {
      why = "perf script failed (" + std::to_string(r.exit_code) + "): " + r.err;
      return false;
    }
    text = r.out.substr(0, 20000);
    double sum = 0, period = 0;
    bool leaf = true;
    std::set<std::string> seen;
    std::istringstream rows(r.out);
    for (std::string row; std::getline(rows, row);) {
      if (row.empty()) continue;
      if (row[0] != ' ' && row[0] != '\t') {  // "comm pid [cpu] time: PERIOD EVENT:"
        const auto colon = row.rfind(':', row.find_last_not_of(' ') - 1);
        std::istringstream fields(colon == std::string::npos ? "" : row.substr(colon + 1));
        fields >> period;
        sum += period;
        leaf = true;
        seen.clear();
        continue;
      }
      // "\t    ffffffff81000130 entry_SYSCALL_64_after_hwframe+0x76 ([kernel.kallsyms])"
      std::istringstream fields(row);
      std::string address, name;
      fields >> address;
      std::getline(fields, name);
      name = trim(name.substr(0, name.rfind(" (")));
      const bool inlined = row.ends_with(" (inlined)");
      if (inlined) name = trim(name.substr(0, name.rfind(" (")));
      if (const auto plus = name.rfind("+0x"); plus != std::string::npos) name.resize(plus);
      if (name.empty() || name == "[unknown]") {
        leaf = false;
        continue;
      }
      if (leaf && !inlined) {
        out.self[name] += period;
        leaf = false;
      }
      if (inlined) name += " (inlined)";
      if (seen.insert(name).second) out.total[name] += period;
    }
    if (sum == 0) {
      why = "perf script listed no sample of " + comm;
      return false;
    }
    for (auto* shares : {&out.self, &out.total}) {
      for (auto& [name, value] : *shares) value = 100.0 * value / sum;
    }
    return true;
  }

  // perfscope's shares agree with perf report's within 1 point for every function perf puts at
  // 3% or more, self and total.
  void expect_agreement(const std::string& file, const std::string& must_have = {},
                        const std::string& comm = {}) {
    PerfShares theirs;
    std::string why, theirs_text;
    if (comm.empty() ? !perf_report(file, theirs, theirs_text, why)
                     : !perf_script_shares(file, comm, theirs, theirs_text, why)) {
      GTEST_SKIP() << "requires a working perf report and perf script: " << why;
    }
    const auto r = perfscope({"report", "-i", file, "--top", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto c = perfscope({"convert", "-i", file, "-o", "read.pb.gz"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const auto ours = perfscope_shares(testing::load(dir_.file("read.pb.gz")), comm);
    ASSERT_FALSE(ours.self.empty()) << r.out;
    // A function perf names and perfscope does not is counted apart: glibc's start-up frames are
    // named from different sources (perf: "__libc_start_main_impl (inlined)" from debug info it
    // found; perfscope: "__libc_start_main" from the symbol table).
    int compared = 0;
    std::vector<std::string> unnamed;
    for (const auto& [kind, perf_side, our_side] :
         {std::tuple{"self", &theirs.self, &ours.self},
          std::tuple{"total", &theirs.total, &ours.total}}) {
      for (const auto& [name, share] : *perf_side) {
        // An address perf could not name ("0x7f3a..", "0000000000000000") is no function.
        if (share < 3.0 || name.find_first_not_of("0123456789abcdefx") == std::string::npos ||
            theirs.repeated.contains(name)) {
          continue;
        }
        auto it = our_side->find(name);
        if (it == our_side->end()) {
          unnamed.push_back(std::string(kind) + " " + name);
          continue;
        }
        // Within 1 point; a total may also be up to 2 points higher: on the same copied stacks
        // of a --call-graph dwarf file, perfscope's unwinder reaches main for some samples where
        // perf's stops (main's total was seen at 99.75% against perf's 98.61%).
        const double above = std::string_view(kind) == "total" ? 2.0 : 1.0;
        EXPECT_GE(it->second, share - 1.0)
            << kind << " share of " << name << "\nperfscope report:\n"
            << r.out << "\nperf report:\n"
            << theirs_text;
        EXPECT_LE(it->second, share + above)
            << kind << " share of " << name << "\nperfscope report:\n"
            << r.out << "\nperf report:\n"
            << theirs_text;
        ++compared;
      }
    }
    EXPECT_GT(compared, 0) << "perf report named no function at 3% or more";
    EXPECT_LE(unnamed.size() * 5, static_cast<std::size_t>(compared))
        << "perfscope lacks too many of perf's functions: " << ::testing::PrintToString(unnamed)
        << "\nperfscope report:\n"
        << r.out << "\nperf report:\n"
        << theirs_text;
    if (!must_have.empty()) {
      EXPECT_NE(r.out.find(must_have), std::string::npos) << must_have << " missing:\n" << r.out;
    }
  }

  std::string perf_;
  TempDir dir_;
};

TEST_F(PerfData, FramePointerCallchainsAgreeWithPerfReport) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("fp.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-F", "999", "-g", "-o", file,
                         "--", target("ps-burn"), "800"});
  PERF_RECORDED_OR_SKIP(rec);
  expect_agreement(file, "perfscope_targets::burn_a");
}

TEST_F(PerfData, DwarfCallGraphIsUnwoundAndAgreesWithPerfReport) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("dwarf.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-F", "999", "--call-graph",
                         "dwarf", "-o", file, "--", target("ps-chain"), "800"});
  PERF_RECORDED_OR_SKIP(rec);
  expect_agreement(file);
  if (IsSkipped()) return;  // perf report failed: the file may be perf's broken one
  // The callers come from the copied stacks: main is on (nearly) every stack of the program.
  const auto r = perfscope({"report", "-i", file, "--top", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto main_row = r.out.find("  main\n");
  ASSERT_NE(main_row, std::string::npos) << r.out;
  const auto row_start = r.out.rfind('\n', main_row) + 1;
  std::istringstream row(r.out.substr(row_start, main_row - row_start));
  std::string self, total;
  row >> self >> total;
  EXPECT_GT(std::stod(total), 90.0) << r.out;
}

// perf record -c N writes no period in its samples (no PERF_SAMPLE_PERIOD: the attr's fixed
// period holds it). Each sample weighs that period, as in perf report; read as 0, every
// sample weighed nothing and convert wrote an empty folded file.
TEST_F(PerfData, FixedPeriodRecordingIsWeighedByItsPeriod) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("fixed.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-c", "1000000", "-g", "-o", file,
                         "--", target("ps-burn"), "800"});
  PERF_RECORDED_OR_SKIP(rec);
  expect_agreement(file, "perfscope_targets::burn_a");
  if (IsSkipped()) return;
  // Folded stacks count the default sample type, nanoseconds of CPU: 1 ms per sample.
  const auto c = perfscope({"convert", "-i", file, "-o", "fixed.folded"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::ifstream in(dir_.file("fixed.folded"));
  std::uint64_t stacks = 0, sum = 0;
  for (std::string line; std::getline(in, line);) {
    ++stacks;
    sum += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  ASSERT_GT(stacks, 0U) << "empty folded output";
  const auto r = perfscope({"report", "-i", file, "--top", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto at = r.out.find(" s cpu, ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const auto samples = std::stoull(r.out.substr(at + 8));
  ASSERT_GT(samples, 100U) << r.out;
  EXPECT_EQ(sum, samples * 1000000) << r.out;
}

TEST_F(PerfData, SystemWideRecordingAgreesWithPerfReport) {
  PS_REQUIRE(paranoid(0), pmu("software"), program("perf"));
  const auto file = dir_.file("all.data");
  // A copy of ps-burn under a name of its own: tests running alongside start ps-burn too, and
  // their processes (short-lived, cut at exec and exit) would share the compared command name.
  const auto burn = dir_.file("ps-burn-sysw");
  std::filesystem::copy_file(target("ps-burn"), burn);
  std::filesystem::permissions(burn, std::filesystem::perms::owner_all);
  const auto rec = perf({"record", "-q", "-N", "-a", "-e", "cpu-clock", "-F", "999", "-g", "-o",
                         file, "--", burn, "500"});
  PERF_RECORDED_OR_SKIP(rec);
  // The whole file is read; that command's samples are compared. Whatever else the machine ran
  // (other tests' programs, starting and exiting) is compared by the other tests, in files of
  // their own.
  expect_agreement(file, "perfscope_targets::burn_a", "ps-burn-sysw");
}

TEST_F(PerfData, PipeModeFileAgreesWithPerfReport) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  // perf writes the stream on standard output: ps-burn's own line goes to /dev/null.
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-F", "999", "-g", "-o", "-",
                         "--", "/bin/sh", "-c", "exec \"$0\" 500 >/dev/null", target("ps-burn")});
  PERF_RECORDED_OR_SKIP(rec);
  const auto file = dir_.file("pipe.data");
  {
    std::ofstream out(file, std::ios::binary);
    out << rec.out;
  }
  ASSERT_TRUE(rec.out.starts_with("PERFILE2"));
  expect_agreement(file, "perfscope_targets::burn_a");
  if (IsSkipped()) return;  // perf report failed: perf may have aborted mid-stream
  // convert reads it as well (the same load_input()).
  const auto c = perfscope({"convert", "-i", file, "-o", "pipe.folded"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::ifstream folded(dir_.file("pipe.folded"));
  std::stringstream text;
  text << folded.rdbuf();
  EXPECT_NE(text.str().find("perfscope_targets::burn_a"), std::string::npos) << text.str();
}

// perf record of a command leaves the CPU out of its samples (PERF_SAMPLE_CPU; perf report
// --sort cpu says -001): report --by cpu says [unknown], not cpu 0. With --sample-cpu the CPUs
// are read.
TEST_F(PerfData, CpusAreUnknownWhenPerfRecordedNone) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto without = dir_.file("nocpu.data"), with = dir_.file("cpu.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-g", "-o", without, "--",
                         target("ps-burn"), "200"});
  PERF_RECORDED_OR_SKIP(rec);
  const auto rec_cpu = perf({"record", "-q", "-N", "-e", "cpu-clock", "--sample-cpu", "-g", "-o",
                             with, "--", target("ps-burn"), "200"});
  PERF_RECORDED_OR_SKIP(rec_cpu);
  const auto r = perfscope({"report", "-i", without, "--by", "cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[unknown]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cpu 0"), std::string::npos) << r.out;
  const auto c = perfscope({"report", "-i", with, "--by", "cpu"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("cpu "), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("[unknown]"), std::string::npos) << c.out;
}

TEST_F(PerfData, FlamegraphReadsPerfData) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("f.data");
  const auto rec = perf(
      {"record", "-q", "-N", "-e", "cpu-clock", "-g", "-o", file, "--", target("ps-burn"), "300"});
  PERF_RECORDED_OR_SKIP(rec);
  const auto f = perfscope({"flamegraph", "-i", file, "-o", "f.svg"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  std::ifstream svg(dir_.file("f.svg"));
  std::stringstream text;
  text << svg.rdbuf();
  EXPECT_NE(text.str().find("burn_a"), std::string::npos);
}

// `perf record -B` (no build-ids: what users pass to skip perf's slow build-id pass) on this
// kernel writes MMAP2 records whose build-id bit is set over device and inode fields; perf 6.1
// then aborts reading its own file. perfscope reads them, and the program's functions are named.
TEST_F(PerfData, RecordingWithoutBuildIdsIsRead) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("b.data");
  const auto rec = perf({"record", "-q", "-B", "-N", "-e", "cpu-clock", "-g", "-o", file, "--",
                         target("ps-burn"), "300"});
  PERF_RECORDED_OR_SKIP(rec);
  const auto r = perfscope({"report", "-i", file, "--top", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perfscope_targets::burn_a"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  main\n"), std::string::npos) << r.out;
}

// The symbol cache (docs/formats.md): a report read with it, on the run that writes it and on the
// runs that read it, is byte for byte the report read without it (PERFSCOPE_SYMBOL_CACHE=off), in
// every output that carries frames: report text, folded stacks and pprof.
TEST_F(PerfData, SymbolCacheGivesTheSameOutputs) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("cached.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "cpu-clock", "-F", "999", "--call-graph",
                         "dwarf", "-o", file, "--", target("ps-chain"), "300"});
  PERF_RECORDED_OR_SKIP(rec);
  const std::string cache = dir_.file("symbols");
  const auto outputs = [&](const std::string& setting, const std::string& tag) {
    std::string all;
    const std::string env = "PERFSCOPE_SYMBOL_CACHE=" + setting;
    const auto r =
        run({find_on_path("env"), env, perfscope_binary(), "report", "-i", file, "--top", "0"},
            {.cwd = dir_.path()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    all += r.out + r.err;
    for (const std::string& out : {tag + ".folded", tag + ".pb.gz"}) {
      const auto c =
          run({find_on_path("env"), env, perfscope_binary(), "convert", "-i", file, "-o", out},
              {.cwd = dir_.path()});
      EXPECT_EQ(c.exit_code, 0) << c.err;
      std::ifstream in(dir_.file(out), std::ios::binary);
      all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return all;
  };
  const std::string fresh = outputs("off", "off");
  EXPECT_FALSE(std::filesystem::exists(cache));
  EXPECT_EQ(outputs(cache, "writing"), fresh);
  ASSERT_TRUE(std::filesystem::exists(cache));
  EXPECT_FALSE(std::filesystem::is_empty(cache)) << "no module's frames were cached";
  EXPECT_EQ(outputs(cache, "reading"), fresh);
}

// A file cut short anywhere is one clear error, never a crash.
TEST_F(PerfData, TruncatedFilesAreOneClearError) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("t.data");
  const auto rec = perf(
      {"record", "-q", "-N", "-e", "cpu-clock", "-g", "-o", file, "--", target("ps-burn"), "200"});
  PERF_RECORDED_OR_SKIP(rec);
  std::ifstream in(file, std::ios::binary);
  std::stringstream whole;
  whole << in.rdbuf();
  const std::string bytes = whole.str();
  // The data section's end (header: its offset and size at bytes 40 and 48): a cut before
  // it loses records and is refused; perf writes the feature sections after it, and a cut there
  // still has every sample: read, with a note saying what was not.
  std::uint64_t data_offset = 0, data_size = 0;
  ASSERT_GE(bytes.size(), 72U);
  std::memcpy(&data_offset, bytes.data() + 40, 8);
  std::memcpy(&data_size, bytes.data() + 48, 8);
  const std::uint64_t data_end = data_offset + data_size;
  ASSERT_LT(data_end, bytes.size());
  const auto cut_to = [&](std::size_t size) {
    const auto cut = dir_.file("cut.data");
    {
      std::ofstream out(cut, std::ios::binary);
      out << bytes.substr(0, size);
    }
    return perfscope({"report", "-i", cut});
  };
  for (std::size_t size : {std::size_t{8}, std::size_t{60}, std::size_t{200},
                           static_cast<std::size_t>(data_offset + data_size / 2),
                           static_cast<std::size_t>(data_end - 1)}) {
    const auto r = cut_to(size);
    EXPECT_EQ(r.exit_code, 1) << size << ": " << r.err;
    EXPECT_NE(r.err.find("perf.data"), std::string::npos) << size << ": " << r.err;
  }
  const auto r = cut_to(bytes.size() - 8);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("cut short inside its feature sections"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("burn_a"), std::string::npos) << r.out;
}

// perf record -e task-clock,page-faults: each event is a sample type of its own, named by the
// event, the first the default; each type's weights add up to perf's periods of that event.
TEST_F(PerfData, EveryEventIsASampleTypeOfItsOwn) {
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"));
  const auto file = dir_.file("two.data");
  const auto rec = perf({"record", "-q", "-N", "-e", "task-clock,page-faults", "-g", "-o", file,
                         "--", target("ps-burn"), "300"});
  PERF_RECORDED_OR_SKIP(rec);
  const auto script = perf({"script", "-i", file, "-F", "period,event"});
  ASSERT_EQ(script.exit_code, 0) << script.err;
  std::map<std::string, std::int64_t> periods;  // event -> its samples' periods, summed
  std::istringstream lines(script.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::int64_t period = 0;
    std::string event;
    if (fields >> period >> event) periods[event.substr(0, event.find(':'))] += period;
  }
  ASSERT_GT(periods["page-faults"], 0) << script.out;
  ASSERT_GT(periods["task-clock"], 0) << script.out;

  const auto c = perfscope({"convert", "-i", file, "-o", "two.pb.gz"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("--sample-type"), std::string::npos) << c.err;
  const auto p = testing::load(dir_.file("two.pb.gz"));
  ASSERT_EQ(p.sample_types.size(), 3u);
  EXPECT_EQ(p.string(p.sample_types[1].type), "task-clock");
  EXPECT_EQ(p.string(p.sample_types[1].unit), "nanoseconds");
  EXPECT_EQ(p.string(p.sample_types[2].type), "page-faults");
  EXPECT_EQ(p.string(p.sample_types[2].unit), "count");
  EXPECT_EQ(p.string(p.default_sample_type), "task-clock");
  std::int64_t task_clock = 0, page_faults = 0;
  for (const auto& s : p.samples()) {
    task_clock += s.values[1];
    page_faults += s.values[2];
    EXPECT_TRUE(s.values[1] == 0 || s.values[2] == 0) << "a sample is one event's";
  }
  EXPECT_EQ(task_clock, periods["task-clock"]);
  EXPECT_EQ(page_faults, periods["page-faults"]);

  // report and flamegraph pick the other event by name.
  const auto r = perfscope({"report", "-i", file, "--sample-type", "page-faults"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("page-faults"), std::string::npos) << r.out;
  const auto f =
      perfscope({"flamegraph", "-i", file, "--sample-type", "page-faults", "-o", "faults.svg"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
}

}  // namespace
}  // namespace perfscope
