// perfscope record --off-cpu and --wall against ps-offcpu, whose worker thread times its own
// phases (computing, nanosleep, a pipe read answered later, a vfork child's wait): the profile's
// attribution is compared with the program's own clock, so a loaded machine changes nothing.
// Needs the eBPF backend (root, or CAP_BPF + CAP_PERFMON, and kernel BTF).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// One sample of a time profile: labels, frames (leaf first) and its value of `type`.
struct TimeSample {
  std::string comm, state;
  std::int64_t pid = 0, tid = 0;
  std::vector<std::string> frames;
  std::int64_t count = 0, ns = 0;
};

std::vector<TimeSample> time_samples(const profile::Profile& p, std::size_t value = 1) {
  std::vector<TimeSample> out;
  for (const auto& s : p.samples()) {
    TimeSample t;
    t.count = s.values.at(0);
    t.ns = s.values.at(value);
    for (const auto& l : s.labels) {
      const auto key = p.string(l.key);
      if (key == "comm") t.comm = std::string(p.string(l.str));
      if (key == "state") t.state = std::string(p.string(l.str));
      if (key == "pid") t.pid = l.num;
      if (key == "tid") t.tid = l.num;
    }
    for (auto id : s.location_ids) {
      for (const auto& line : p.location(id).lines) {
        t.frames.emplace_back(p.string(p.function(line.function_id).name));
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

bool has_frame(const TimeSample& s, const std::string& needle) {
  for (const auto& f : s.frames) {
    if (f.find(needle) != std::string::npos) return true;
  }
  return false;
}

// "phases compute=NS nap=NS reply=NS spawn=NS total=NS" from ps-offcpu mix.
std::map<std::string, double> phases(const std::string& out) {
  std::map<std::string, double> m;
  std::smatch match;
  if (!std::regex_search(out, match,
                         std::regex(R"(phases compute=(\d+) nap=(\d+) reply=(\d+) spawn=(\d+) )"
                                    R"(total=(\d+))"))) {
    return m;
  }
  const char* names[] = {"compute", "nap", "reply", "spawn", "total"};
  for (int i = 0; i < 5; ++i) m[names[i]] = std::stod(match[i + 1]);
  return m;
}

// The phase a worker sample belongs to, by its stack; empty when none.
std::string phase_of(const TimeSample& s) {
  if (has_frame(s, "perfscope_targets::compute(")) return "compute";
  if (has_frame(s, "perfscope_targets::nap(")) return "nap";
  if (has_frame(s, "perfscope_targets::wait_reply(")) return "reply";
  if (has_frame(s, "perfscope_targets::spawn_wait(")) return "spawn";
  return {};
}

// The worker thread's samples: the thread whose stacks hold worker_main, in ps-offcpu's process
// (the vfork children inherit the thread's name but are processes of their own).
std::vector<TimeSample> worker_samples(const std::vector<TimeSample>& all) {
  std::map<std::int64_t, std::int64_t> by_tid;
  for (const auto& s : all) {
    if (s.pid != s.tid && has_frame(s, "perfscope_targets::worker_main(")) by_tid[s.tid] += s.ns;
  }
  std::int64_t tid = 0, most = -1;
  for (const auto& [t, ns] : by_tid) {
    if (ns > most) {
      most = ns;
      tid = t;
    }
  }
  std::vector<TimeSample> out;
  for (const auto& s : all) {
    if (s.tid == tid) out.push_back(s);
  }
  return out;
}

long switches_of(const std::string& out, const std::string& thread) {
  std::smatch m;
  return std::regex_search(out, m, std::regex(thread + R"(=(\d+))")) ? std::stol(m[1]) : -1;
}

TEST(OffCpu, WallAttributesEachPhaseWithinFivePointsWithFullStacksAndStates) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("wall.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--wall", "-F", "999", "-o", out, "--",
                      target("ps-offcpu"), "mix", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto truth = phases(r.out);
  ASSERT_FALSE(truth.empty()) << r.out;
  const auto p = load(out);
  // Time is the default sample type, so report and flamegraph show it without flags.
  ASSERT_EQ(p.sample_types.size(), 2U);
  EXPECT_EQ(p.string(p.default_sample_type), "wall");
  EXPECT_EQ(p.string(p.sample_types[1].unit), "nanoseconds");
  const auto all = time_samples(p);
  const auto worker = worker_samples(all);
  ASSERT_FALSE(worker.empty()) << r.err;
  std::map<std::string, double> ns;
  std::map<std::string, std::map<std::string, double>> state_ns;  // phase -> state -> ns
  double in_phases = 0, with_root = 0, worker_ns = 0;
  for (const auto& s : all) EXPECT_FALSE(s.state.empty()) << "a sample without a state label";
  for (const auto& s : worker) {
    worker_ns += static_cast<double>(s.ns);
    if (has_frame(s, "perfscope_targets::worker_main(")) with_root += static_cast<double>(s.ns);
    const std::string phase = phase_of(s);
    if (phase.empty()) continue;
    ns[phase] += static_cast<double>(s.ns);
    state_ns[phase][s.state] += static_cast<double>(s.ns);
    in_phases += static_cast<double>(s.ns);
  }
  // The recorded time of the worker covers its life; the phases nearly all of it.
  EXPECT_NEAR(worker_ns / truth.at("total"), 1.0, 0.05) << r.err;
  // Full stacks: the thread's start function is under (nearly) every sample.
  EXPECT_GT(with_root / worker_ns, 0.97) << r.err;
  for (const char* phase : {"compute", "nap", "reply", "spawn"}) {
    SCOPED_TRACE(phase);
    const double expected = 100.0 * truth.at(phase) / truth.at("total");
    const double measured = 100.0 * ns[phase] / worker_ns;
    EXPECT_NEAR(measured, expected, 5.0) << r.err;
  }
  // States: computing runs, or waits to run when preempted (much of it on a loaded machine);
  // nanosleep and the pipe read sleep; the vfork parent waits uninterruptibly.
  EXPECT_GT(state_ns["compute"]["on-cpu"], 0);
  EXPECT_GT((state_ns["compute"]["on-cpu"] + state_ns["compute"]["runnable"]) / ns["compute"],
            0.95);
  EXPECT_GT(state_ns["nap"]["sleeping"] / ns["nap"], 0.9);
  EXPECT_GT(state_ns["reply"]["sleeping"] / ns["reply"], 0.9);
  EXPECT_GT(state_ns["spawn"]["blocked"] / ns["spawn"], 0.9);
  EXPECT_NE(r.err.find("Thread "), std::string::npos) << r.err;
  // The worker is named by its first switch: "ps-worker" once it has renamed itself, its
  // process's name when it switched before that (the process table keeps the first name seen).
  EXPECT_TRUE(r.err.find("(ps-worker, pid ") != std::string::npos ||
              r.err.find("(ps-offcpu, pid ") != std::string::npos)
      << r.err;
}

TEST(OffCpu, OffCpuSplitsTheWaitsInTheProgramsOwnRatio) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("off.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--off-cpu", "-o", out, "--",
                      target("ps-offcpu"), "mix", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto truth = phases(r.out);
  ASSERT_FALSE(truth.empty()) << r.out;
  const auto p = load(out);
  EXPECT_EQ(p.string(p.default_sample_type), "off-cpu");
  const auto worker = worker_samples(time_samples(p));
  std::map<std::string, double> ns;
  double waits = 0;
  for (const auto& s : worker) {
    EXPECT_NE(s.state, "on-cpu");
    const std::string phase = phase_of(s);
    if (phase == "nap" || phase == "reply" || phase == "spawn") {
      ns[phase] += static_cast<double>(s.ns);
      waits += static_cast<double>(s.ns);
    }
  }
  ASSERT_GT(waits, 0) << r.err;
  const double truth_waits = truth.at("nap") + truth.at("reply") + truth.at("spawn");
  for (const char* phase : {"nap", "reply", "spawn"}) {
    SCOPED_TRACE(phase);
    EXPECT_NEAR(100.0 * ns[phase] / waits, 100.0 * truth.at(phase) / truth_waits, 5.0) << r.err;
  }
  // The kernel frames of the wait are there: nanosleep's and the pipe read's.
  bool kernel_nanosleep = false, kernel_pipe = false;
  for (const auto& s : worker) {
    if (phase_of(s) == "nap" && has_frame(s, "hrtimer_nanosleep")) kernel_nanosleep = true;
    if (phase_of(s) == "reply" && has_frame(s, "pipe_read")) kernel_pipe = true;
  }
  EXPECT_TRUE(kernel_nanosleep);
  EXPECT_TRUE(kernel_pipe);
  EXPECT_NE(r.err.find("Off-CPU: "), std::string::npos) << r.err;
}

// The index of the first frame (leaf first) containing `needle`, or -1.
long frame_index(const TimeSample& s, const std::string& needle) {
  for (std::size_t i = 0; i < s.frames.size(); ++i) {
    if (s.frames[i].find(needle) != std::string::npos) return static_cast<long>(i);
  }
  return -1;
}

// The share of the worker's off-CPU time in `phase_fn` whose user stack holds the known chain,
// leaf first: the libc wrapper, the target's function that called it, the phase, worker_main.
// ps-offcpu's chains (tests/targets/offcpu.cpp) are the ground truth.
double known_chain_share(const std::vector<TimeSample>& worker, const std::string& phase_fn,
                         const std::string& caller, const std::string& wrapper) {
  double all = 0, whole = 0;
  for (const auto& s : worker) {
    if (s.state == "on-cpu" || !has_frame(s, "perfscope_targets::" + phase_fn + "(")) continue;
    all += static_cast<double>(s.ns);
    const long w = frame_index(s, wrapper);
    const long c = frame_index(s, "perfscope_targets::" + caller + "(");
    const long p = frame_index(s, "perfscope_targets::" + phase_fn + "(");
    const long root = frame_index(s, "perfscope_targets::worker_main(");
    if (w >= 0 && w < c && c < p && p < root) whole += static_cast<double>(s.ns);
  }
  return all > 0 ? whole / all : 0;
}

// The wait starts in a libc system-call wrapper (Debian's libc keeps no frame pointer): the
// in-kernel CFI walker, the default, keeps the wrapper's caller that a frame-pointer walk skips.
TEST(OffCpu, CfiStacksKeepTheCallerOfTheLibcWrapper) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  for (const char* mode : {"--off-cpu", "--wall"}) {
    SCOPED_TRACE(mode);
    const auto out = dir.file(std::string(mode + 2) + ".pb.gz");
    const auto r = run({perfscope_binary(), "record", mode, "-F", "499", "-o", out, "--",
                        target("ps-offcpu"), "mix", "20"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("Off-CPU user stacks walked in the kernel: "), std::string::npos) << r.err;
    const auto all = time_samples(load(out));
    const auto worker = worker_samples(all);
    ASSERT_FALSE(worker.empty()) << r.err;
    EXPECT_GT(known_chain_share(worker, "nap", "sleep_for", "nanosleep"), 0.9) << r.err;
    EXPECT_GT(known_chain_share(worker, "wait_reply", "read_byte", "read"), 0.9) << r.err;
    // The main thread waits in pthread_timedjoin_np, 50 ms at a time (__pthread_clockjoin_ex): its
    // stack reaches main.
    double main_wait = 0, main_reached = 0;
    for (const auto& s : all) {
      if (s.pid != s.tid || s.state == "on-cpu" || !has_frame(s, "join")) continue;
      main_wait += static_cast<double>(s.ns);
      const auto main_at = std::find(s.frames.begin(), s.frames.end(), "main");
      if (main_at != s.frames.end() && frame_index(s, "join") < main_at - s.frames.begin()) {
        main_reached += static_cast<double>(s.ns);
      }
    }
    ASSERT_GT(main_wait, 0) << r.err;
    EXPECT_GT(main_reached / main_wait, 0.9) << r.err;
  }
  // Frame pointers: the wrapper's caller is skipped (why the walker is the default).
  const auto fp = dir.file("fp.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--off-cpu", "--call-graph", "fp", "-o", fp,
                      "--", target("ps-offcpu"), "mix", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(
      known_chain_share(worker_samples(time_samples(load(fp))), "nap", "sleep_for", "nanosleep"),
      0.1);
}

// More distinct off-CPU stacks than --bpf-count-entries holds, over a few seconds: the counts are
// drained once a second (two generations), so nothing is lost and every stack is there.
TEST(OffCpu, CountsAreDrainedWhileRecordingSoASmallMapLosesNothing) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("stacks.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--off-cpu", "--bpf-count-entries", "100", "-o",
                      out, "--", target("ps-offcpu"), "stacks", "150"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("stacks 150"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("lost: 0 (counts map full) + 0 (pending-switch map full) + "),
            std::string::npos)
      << r.err;
  std::set<std::vector<std::string>> distinct;
  std::int64_t sleeps = 0;
  for (const auto& s : time_samples(load(out))) {
    if (s.state != "sleeping" || !has_frame(s, "perfscope_targets::descend_")) continue;
    distinct.insert(s.frames);
    sleeps += s.count;
  }
  // 150 sleeps, each from a stack of its own (75 depths of two functions): more than the map
  // holds at once. A sleep whose return to a CPU the program did not see is measured from the
  // thread's CPU time and counted too.
  EXPECT_GE(distinct.size(), 150U) << r.err;
  EXPECT_GE(sleeps, 150) << r.err;
}

// "Stacks not captured (off-CPU): kernel K, user U (F of them: stack map full": {K, U, F}.
std::vector<long> stacks_not_captured(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(
          err, m,
          std::regex(
              R"(Stacks not captured \(off-CPU\): kernel (\d+), user (\d+) \((\d+) of them)"))) {
    return {};
  }
  return {std::stol(m[1]), std::stol(m[2]), std::stol(m[3])};
}

// The distinct user stacks of ps-offcpu stacks' sleeps (descend_a/descend_b at each depth).
std::set<std::vector<std::string>> descend_stacks(const std::string& profile) {
  std::set<std::vector<std::string>> distinct;
  for (const auto& s : time_samples(load(profile))) {
    if (s.state == "sleeping" && has_frame(s, "perfscope_targets::descend_")) {
      distinct.insert(s.frames);
    }
  }
  return distinct;
}

// Far more distinct off-CPU stacks over the run (200) than --bpf-stack-entries holds (80): the
// stack maps are emptied once a second (stacks are keyed by a hash of their frames, which keeps
// its meaning after the drain), so every stack is there and none is reported lost, with the
// walked (cfi) and the frame-pointer user stacks alike. A map too small for one second's stacks
// (8, against about 33 a second) loses stacks and says so: the check can fail.
TEST(OffCpu, StackMapsAreEmptiedWhileRecordingSoASmallMapLosesNothing) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  for (const char* mode : {"cfi", "fp"}) {
    SCOPED_TRACE(mode);
    const auto out = dir.file(std::string(mode) + ".pb.gz");
    const auto r =
        run({perfscope_binary(), "record", "--off-cpu", "--call-graph", mode, "--bpf-stack-entries",
             "80", "-o", out, "--", target("ps-offcpu"), "stacks", "200"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_NE(r.out.find("stacks 200"), std::string::npos) << r.out;
    EXPECT_EQ(stacks_not_captured(r.err), (std::vector<long>{0, 0, 0})) << r.err;
    EXPECT_EQ(descend_stacks(out).size(), 200U) << r.err;
  }
  const auto out = dir.file("small.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--off-cpu", "--bpf-stack-entries", "8", "-o",
                      out, "--", target("ps-offcpu"), "stacks", "60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lost = stacks_not_captured(r.err);
  ASSERT_EQ(lost.size(), 3U) << r.err;
  EXPECT_GT(lost[1], 0) << r.err;
  EXPECT_EQ(lost[2], lost[0] + lost[1]) << r.err;
  EXPECT_LT(descend_stacks(out).size(), 60U) << r.err;
}

TEST(OffCpu, ContextSwitchStormLosesNothingAndCountsEverySwitch) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("storm.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--off-cpu", "--min-block", "0", "-o", out,
                      "--", target("ps-offcpu"), "storm", "1000000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long ping = switches_of(r.out, "ps-ping"), pong = switches_of(r.out, "ps-pong");
  ASSERT_GT(ping, 0) << r.out;
  EXPECT_NE(r.err.find("lost: 0 (counts map full) + 0 (pending-switch map full) + "),
            std::string::npos)
      << r.err;
  // Intervals per thread of the storm's process; the two storm threads have the most. Every
  // switch away that a thread came back from is an interval; the threads read their counts just
  // before their last switches, so a few more may be counted.
  std::map<std::int64_t, std::int64_t> by_tid;
  std::int64_t main_pid = 0;
  for (const auto& s : time_samples(load(out))) {
    by_tid[s.tid] += s.count;
    if (s.pid == s.tid && has_frame(s, "main")) main_pid = s.pid;
  }
  std::vector<std::int64_t> counts;
  for (const auto& [tid, n] : by_tid) {
    if (tid != main_pid) counts.push_back(n);
  }
  std::sort(counts.rbegin(), counts.rend());
  ASSERT_GE(counts.size(), 2U);
  // The program cannot run for a switch that happens while it runs on that CPU (the kernel's
  // recursion guard): those are counted as lost.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(\+ (\d+) \(switches the program missed)")))
      << r.err;
  const long missed = std::stol(m[1]);
  EXPECT_LT(missed, (ping + pong) / 10000) << r.err;
  // Every start stored is counted (at the thread's return to a CPU, or, when that return was not
  // seen, at its next switch away: measured from its CPU time), short, lost, or still open at the
  // end. On the 6.18 VM kernel about 20 in 600,000 returns are not seen (the thread takes the CPU
  // from a thread whose switch away no tracer sees).
  ASSERT_TRUE(std::regex_search(
      r.err, m,
      std::regex(R"(Off-CPU: (\d+) switches of target threads, (\d+) intervals counted, (\d+) )"
                 R"(shorter than --min-block \d+ ns \((\d+) of all these returned to a CPU )"
                 R"(without[^\n]*lost: (\d+) \(counts map full\) [^\n]*\+ (\d+) \(stale start )"
                 R"([^\n]*; (\d+) threads)")))
      << r.err;
  const long stored = std::stol(m[1]), counted = std::stol(m[2]), short_ones = std::stol(m[3]),
             unseen = std::stol(m[4]), counts_full = std::stol(m[5]), stale = std::stol(m[6]),
             open = std::stol(m[7]);
  EXPECT_EQ(stored, counted + short_ones + counts_full + stale + open) << r.err;
  EXPECT_LT(unseen, (ping + pong) / 1000) << r.err;
  EXPECT_EQ(stale, 0) << r.err;
  // So the threads' own switch counts are all accounted for, counted or reported lost.
  EXPECT_GE(counts[0] + counts[1] + missed, ping + pong) << r.err;
  EXPECT_LE(counts[0] + counts[1], ping + pong + 6);
}

TEST(OffCpu, SchedSwitchEveryEventCountsEverySwitchOfTheStorm) {
  PS_REQUIRE(tracefs(), paranoid(1));
  TempDir dir;
  const auto out = dir.file("switch.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-e", "sched:sched_switch", "-c", "1", "-o",
                      out, "--", target("ps-offcpu"), "storm", "20000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long ping = switches_of(r.out, "ps-ping"), pong = switches_of(r.out, "ps-pong");
  ASSERT_GT(ping, 0) << r.out;
  // The eBPF backend cannot attach to a tracepoint event: one line says so, perf rings record.
  if (testing::unmet({testing::bpf_backend()}).empty()) {
    EXPECT_NE(r.err.find("perf ring buffers, not eBPF: "), std::string::npos) << r.err;
  }
  EXPECT_NE(r.err.find("Backend: perf (ring buffers)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Lost: 0 samples (ring buffer full), 0 samples (dropped by the kernel)"),
            std::string::npos)
      << r.err;
  // Samples per thread of the storm's process: the two storm threads have the most.
  std::map<std::int64_t, std::int64_t> by_tid;
  for (const auto& s : time_samples(load(out))) {
    if (s.pid != s.tid) by_tid[s.tid] += s.count;
  }
  std::vector<std::int64_t> counts;
  for (const auto& [tid, n] : by_tid) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  ASSERT_GE(counts.size(), 2U);
  // A switch is sampled in the thread leaving the CPU; the last ones (the exit) come after the
  // threads read their counts.
  EXPECT_GE(counts[0] + counts[1], ping + pong);
  EXPECT_LE(counts[0] + counts[1], ping + pong + 6);
}

// bcc's offcputime needs kernel headers (it compiles its program at run time) and kprobes.
std::string offcputime_missing() {
  const std::string release = [] {
    std::string s;
    if (FILE* f = std::fopen("/proc/sys/kernel/osrelease", "r")) {
      char buf[256] = {};
      if (std::fgets(buf, sizeof(buf), f)) s = buf;
      std::fclose(f);
    }
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }();
  struct stat st {};
  if (::stat(("/lib/modules/" + release + "/build").c_str(), &st) != 0 &&
      ::stat("/sys/kernel/kheaders.tar.xz", &st) != 0) {
    return "offcputime-bpfcc compiles its program against the kernel headers, and this kernel "
           "has none (no /lib/modules/" +
           release + "/build, no CONFIG_IKHEADERS): install linux-headers-" + release;
  }
  return {};
}

TEST(OffCpu, SameFunctionsAndSharesAsBccOffcputime) {
  PS_REQUIRE(bpf_backend(), program("offcputime-bpfcc"));
  if (const auto why = offcputime_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  // bcc system wide, user threads, folded; ps-offcpu runs meanwhile, under perfscope too.
  const auto folded = dir.file("bcc.folded");
  const auto out = dir.file("off.pb.gz");
  const auto r = run({"sh", "-c",
                      "offcputime-bpfcc -f -u 8 > " + folded + " & bcc=$!; " + perfscope_binary() +
                          " record --off-cpu -o " + out + " -- " + target("ps-offcpu") +
                          " mix 60; wait $bcc"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> bcc, ours;
  double bcc_total = 0, ours_total = 0;
  std::ifstream in(folded);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("ps-worker;") || line.find("worker_main") == std::string::npos) continue;
    const double us = std::stod(line.substr(line.rfind(' ') + 1));
    for (const char* phase : {"nap", "wait_reply", "spawn_wait"}) {
      if (line.find(std::string("perfscope_targets::") + phase + "(") != std::string::npos) {
        bcc[phase] += us;
        bcc_total += us;
      }
    }
  }
  for (const auto& s : worker_samples(time_samples(load(out)))) {
    for (const char* phase : {"nap", "wait_reply", "spawn_wait"}) {
      if (has_frame(s, std::string("perfscope_targets::") + phase + "(")) {
        ours[phase] += static_cast<double>(s.ns);
        ours_total += static_cast<double>(s.ns);
      }
    }
  }
  ASSERT_GT(bcc_total, 0);
  ASSERT_GT(ours_total, 0);
  for (const char* phase : {"nap", "wait_reply", "spawn_wait"}) {
    SCOPED_TRACE(phase);
    EXPECT_NEAR(100.0 * ours[phase] / ours_total, 100.0 * bcc[phase] / bcc_total, 5.0);
  }
}

}  // namespace
}  // namespace perfscope
