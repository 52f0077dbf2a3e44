// `perfscope record` end to end: real sampling of purpose-built targets with known hot functions,
// read back through the pprof reader, checked against the truth the targets were built with.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "profile/profile.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::target;

using testing::contains;
using testing::flatten;
using testing::leaf_count;
using testing::load;
using testing::TempDir;
using testing::total;

// Every RecordCli test runs with each backend: the default (auto: eBPF in-kernel aggregation
// as root) and the perf ring buffers. Its run() adds --backend to `perfscope record` commands.
class RecordCli : public ::testing::TestWithParam<std::string> {
 protected:
  static testing::RunResult run(std::vector<std::string> argv,
                                const testing::RunOptions& options = {}) {
    if (argv.size() > 1 && argv[1] == "record" && GetParam() != "auto") {
      argv.insert(argv.begin() + 2, {"--backend", GetParam()});
    }
    return testing::run(argv, options);
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, RecordCli, ::testing::Values("auto", "perf"),
                         [](const auto& param_info) { return param_info.param; });

// Seed 001 wants `-d 2` to take 1-4 s in all. That includes symbolizing everything the system
// ran, which an ASan+UBSan debug build does several times slower; the recording time itself is
// checked exactly from the summary.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kSlack = 3.0;
#else
constexpr double kSlack = 1.0;
#endif

TEST_P(RecordCli, HelpMentionsFrequencyDurationHzAnd99) {
  const auto r = run({perfscope_binary(), "record", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"frequency", "duration", "Hz", "99", "Sampling"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " missing from:\n" << r.out;
  }
}

TEST_P(RecordCli, AttributesKnownHotFunctionsWithinSevenPoints) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("burn.pb.gz");
  const auto r =
      run({perfscope_binary(), "record", "-F", "999", "-o", out, "--", target("ps-burn"), "1500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Collected "), std::string::npos) << r.err;
  const auto samples = flatten(load(out));
  const auto all = total(samples, "ps-burn");
  ASSERT_GT(all, 800) << "1.5 s of CPU at 999 Hz";
  // burn_a and burn_b call sink(); a sample there counts for its caller.
  std::int64_t a = 0, b = 0, via_main = 0;
  for (const auto& s : samples) {
    if (s.comm != "ps-burn") continue;
    const bool in_a = contains(s.frames, "perfscope_targets::burn_a(unsigned long, unsigned long)");
    const bool in_b = contains(s.frames, "perfscope_targets::burn_b(unsigned long, unsigned long)");
    if (in_a) a += s.count;
    if (in_b) b += s.count;
    if ((in_a || in_b) && contains(s.frames, "perfscope_targets::work(") &&
        contains(s.frames, "main")) {
      via_main += s.count;
    }
  }
  const double pa = 100.0 * static_cast<double>(a) / static_cast<double>(all);
  const double pb = 100.0 * static_cast<double>(b) / static_cast<double>(all);
  EXPECT_NEAR(pa, 75.0, 7.0) << a << " of " << all;
  EXPECT_NEAR(pb, 25.0, 7.0) << b << " of " << all;
  // Every burn_* stack goes main -> work -> burn_*, except a sample on the first instruction of
  // burn_* (before `push %rbp`), where frame-pointer unwinding skips work: rare, not never.
  EXPECT_GE(via_main * 1000, (a + b) * 995)
      << via_main << " of " << a + b << " burn_* stacks go main -> work -> burn_*";
}

TEST_P(RecordCli, EveryThreadOfAMultiThreadedCommandIsSampled) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("threads.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-F", "499", "-o", out, "--",
                      target("ps-threads"), "3", "400"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  std::map<std::int64_t, std::int64_t> per_thread;
  std::int64_t pid = 0;
  for (const auto& s : samples) {
    if (contains(s.frames, "perfscope_targets::thread_burn(") &&
        contains(s.frames, "perfscope_targets::thread_main(")) {
      per_thread[s.tid] += s.count;
      pid = s.pid;
    }
  }
  ASSERT_EQ(per_thread.size(), 3u) << "three burning threads";
  for (const auto& [tid, n] : per_thread) {
    EXPECT_NE(tid, pid) << "burning happens in the created threads, not main";
    EXPECT_GT(n, 100) << "400 ms at 499 Hz is ~200 samples per thread; tid " << tid;
  }
}

TEST_P(RecordCli, ForkAndExecAreAttributedToTheRightProgram) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("forkexec.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-F", "499", "-o", out, "--",
                      target("ps-fork_exec"), target("ps-burn"), "600"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  const auto parent_spin = leaf_count(samples, "ps-fork_exec", "parent_spin");
  EXPECT_GT(parent_spin, 100) << "the parent spins while the child runs";
  std::int64_t child_burn = 0, misattributed = 0;
  for (const auto& s : samples) {
    const bool burn = contains(s.frames, "perfscope_targets::burn_");
    if (burn && s.comm == "ps-burn") child_burn += s.count;
    if (burn && s.comm != "ps-burn") misattributed += s.count;
    if (contains(s.frames, "parent_spin") && s.comm != "ps-fork_exec") misattributed += s.count;
  }
  EXPECT_GT(child_burn, 150) << "the exec()ed child is symbolized as ps-burn";
  EXPECT_EQ(misattributed, 0);
}

TEST_P(RecordCli, ProcessThatExitsBeforeTheEndIsStillSymbolized) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  TempDir dir;
  const auto out = dir.file("system.pb.gz");
  // System-wide while a shell runs: ps-burn starts after the recording did and has exited (and
  // been reaped) well before it ends, whatever the machine's load.
  const auto script = "sleep 0.3; " + target("ps-burn") + " 300 >/dev/null; sleep 0.5";
  const auto r =
      run({perfscope_binary(), "record", "-a", "-F", "499", "-o", out, "--", "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  const auto all = total(samples, "ps-burn");
  const auto a = leaf_count(samples, "ps-burn", "perfscope_targets::burn_a(");
  const auto b = leaf_count(samples, "ps-burn", "perfscope_targets::burn_b(");
  ASSERT_GT(all, 60) << "0.3 s of CPU at 499 Hz";
  EXPECT_GT(a + b, all * 8 / 10) << "symbolized after the process was gone";
}

TEST_P(RecordCli, KernelStacksOfASyscallHeavyCommand) {
  PS_REQUIRE(paranoid(1), pmu("software"));
  TempDir dir;
  const auto out = dir.file("syscalls.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-F", "999", "-o", out, "--",
                      target("ps-getpid_loop"), "3000000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  std::int64_t kernel = 0;
  for (const auto& s : samples) {
    if (contains(s.frames, "do_syscall_64") || contains(s.frames, "entry_SYSCALL_64")) {
      kernel += s.count;
    }
  }
  EXPECT_GT(kernel, total(samples) / 4) << "getpid() spends its time entering the kernel";
}

TEST_P(RecordCli, NoIdleLeavesTheIdleTaskOutAndCountsIt) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  TempDir dir;
  const auto with_idle = dir.file("idle.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-F", "499", "-d", "1", "-o", with_idle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto idle_samples = [](const std::vector<testing::FlatSample>& samples) {
    std::int64_t n = 0;
    for (const auto& s : samples) {
      if (s.pid == 0 && s.tid == 0) n += s.count;
    }
    return n;
  };
  // A 2-CPU test machine is mostly idle while only this test runs; under a parallel ctest the
  // CPUs may be busy, so the idle share is only required to be counted consistently.
  const auto before = idle_samples(flatten(load(with_idle)));

  const auto without = dir.file("no-idle.pb.gz");
  const auto r2 =
      run({perfscope_binary(), "record", "-F", "499", "-d", "1", "--no-idle", "-o", without});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(idle_samples(flatten(load(without))), 0) << r2.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r2.err, m, std::regex(R"(Idle: (\d+) samples? of the idle task)")))
      << r2.err;
  if (before > 20) {
    EXPECT_GT(std::stol(m[1]), 0) << "idle was sampled a moment ago:\n" << r2.err;
  }
}

TEST_P(RecordCli, SystemWideSummaryShowsSamplesPerCpuAndRate) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const auto r =
      run({perfscope_binary(), "record", "-f", "49", "-d", "1", "-o", dir.file("a.pb.gz")});
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Collected "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("CPU 0: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Sample rate: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("49 Hz x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Lost: 0 samples"), std::string::npos) << r.err;
  EXPECT_GE(secs, 1.0);
  EXPECT_LE(secs, kSlack * 4.0);

  EXPECT_NE(r.err.find("(idle "), std::string::npos) << "each CPU's idle share:\n" << r.err;

  // With every CPU kept busy, nearly every tick of every CPU is a sample, except the ticks that
  // fell while the hypervisor ran something else on our virtual CPUs (cpu-clock's timer skips
  // missed periods), which /proc/stat counts as steal time. An idle CPU may take no samples at
  // all on this kernel, so the count is only checked with the CPUs busy.
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const double stolen_before = testing::stolen_cpu_seconds();
  const auto r2 = run({perfscope_binary(), "record", "-a", "-o", dir.file("b.pb.gz"), "--",
                       target("ps-threads"), std::to_string(cpus), "2000"});
  const double stolen = testing::stolen_cpu_seconds() - stolen_before;
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const auto at = r2.err.find(" samples in ");
  ASSERT_NE(at, std::string::npos) << r2.err;
  const double secs2 = std::stod(r2.err.substr(at + 12));
  EXPECT_GE(secs2, 1.9) << r2.err;
  const auto samples = flatten(load(dir.file("b.pb.gz")));
  const double cpu_seconds = std::max(0.0, secs2 * static_cast<double>(cpus) - stolen);
  EXPECT_GT(static_cast<double>(total(samples)), 99.0 * cpu_seconds * 0.8)
      << "stolen by the hypervisor during the recording: " << stolen << " CPU seconds\n"
      << r2.err;
}

TEST_P(RecordCli, InterruptOrTerminateStillWritesACompleteProfile) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig);
    TempDir dir;
    const auto out = dir.file("stopped.pb.gz");
    testing::RunOptions opts;
    opts.interrupt_after_ms = 0;
    opts.interrupt_signal = sig;
    // Once ps-burn has burned 0.3 s of CPU: about 150 samples at 499 Hz.
    opts.interrupt_when = [](int pid) { return testing::child_has_run(pid, "ps-burn", 0.3); };
    const auto r = run(
        {perfscope_binary(), "record", "-F", "499", "-o", out, "--", target("ps-burn"), "20000"},
        opts);
    EXPECT_EQ(r.exit_code, 128 + sig) << r.err;
    EXPECT_NE(r.err.find("Stopped by"), std::string::npos) << r.err;
    const auto samples = flatten(load(out));
    EXPECT_GT(leaf_count(samples, "ps-burn", "burn_a"), 10) << "the samples before the signal";
    std::error_code ec;
    std::size_t leftovers = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path(), ec)) {
      if (e.path().filename() != "stopped.pb.gz") ++leftovers;
    }
    EXPECT_EQ(leftovers, 0u) << "no temporary file left behind";
  }
}

// -d ends a command that is still running (and perfscope exits 0: the end was asked for); one
// that ignores SIGTERM is killed 2 s later instead of keeping perfscope (and its profile) waiting.
TEST_P(RecordCli, DurationKillsACommandThatIgnoresSigterm) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("p.pb.gz");
  const auto r = run({perfscope_binary(), "record", "-d", "0.3", "-o", out, "--", "/bin/sh", "-c",
                      "trap '' TERM; exec /bin/sleep 30"});
  EXPECT_EQ(r.exit_code, 0) << "the duration ended the command, as asked: not a failure";
  EXPECT_NE(r.err.find("was still running 2 s after the signal; killed it (SIGKILL)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(std::filesystem::exists(out)) << r.err;
}

TEST_P(RecordCli, DurationEndingACommandExitsZeroAndOneThatEndsFirstGivesItsStatus) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto ended = run({perfscope_binary(), "record", "-d", "0.3", "-o", dir.file("a.pb.gz"),
                          "--", "/bin/sleep", "30"});
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  const auto failed = run({perfscope_binary(), "record", "-d", "30", "-o", dir.file("b.pb.gz"),
                           "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(failed.exit_code, 3) << failed.err;
  EXPECT_NE(failed.err.find("the command exited with status 3"), std::string::npos) << failed.err;
}

// stdout belongs to the profiled command (`record -- gzip -c f > f.gz` must give a valid f.gz):
// the summary, notes and progress go to stderr, as perf's do.
TEST_P(RecordCli, StandardOutputCarriesOnlyTheCommandsOutput) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto r = run({perfscope_binary(), "record", "-o", dir.file("p.pb.gz"), "--", "/bin/sh",
                      "-c", "printf 'data only\\n'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "data only\n");
  EXPECT_NE(r.err.find("Collected "), std::string::npos) << r.err;
  // With -o - the profile is the only thing on stdout: gzip magic first.
  const auto to_stdout = run({perfscope_binary(), "record", "-o", "-", "--", "/bin/true"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  ASSERT_GE(to_stdout.out.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(to_stdout.out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(to_stdout.out[1]), 0x8b);
}

// An empty -p/-t/-C (an unset shell variable) is refused, naming the flag, instead of silently
// meaning "no target", which would record the whole system.
TEST_P(RecordCli, EmptyTargetIsAnErrorNamingTheFlag) {
  TempDir dir;
  for (const char* flag : {"-p", "-t", "-C"}) {
    SCOPED_TRACE(flag);
    const auto r =
        run({perfscope_binary(), "record", "-d", "1", "-o", dir.file("p.pb.gz"), flag, ""});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("empty list names no target"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("p.pb.gz")));
  }
}

TEST_P(RecordCli, BadInputsFailClearlyAndWriteNothing) {
  TempDir dir;
  const auto out = dir.file("never.pb.gz");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"-e", "no-such-event", "--", target("ps-burn"), "10"}, "no-such-event"},
      {{"-F", "0", "--", target("ps-burn"), "10"}, "frequency"},
      {{"-d", "-1", "--", target("ps-burn"), "10"}, "duration"},
      {{"-d", "0", "-a"}, "duration"},
      {{"-d", "1e999", "-a"}, "duration"},
      {{"-p", "999999999"}, "no process"},
      {{"-p", "12ab"}, "invalid pid"},
      {{"-t", "999999999"}, "no thread"},
      {{"--call-graph", "lbr", "--", target("ps-burn"), "10"}, "call-graph"},
      {{"-a", "-p", "1"}, "choose one target"},
      {{"-C", "4096", "--", target("ps-burn"), "10"}, "not online"},
      {{"--", "/no/such/program"}, "/no/such/program"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{perfscope_binary(), "record", "-o", out};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const auto r = run(argv);
    SCOPED_TRACE(argv.back());
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << "no output after a failure";
  }
}

TEST_P(RecordCli, UnwritableOutputFailsBeforeRecording) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = run({perfscope_binary(), "record", "-o", "/no/such/dir/p.pb.gz", "--",
                      target("ps-burn"), "3000"});
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot write the profile to /no/such/dir/p.pb.gz"), std::string::npos)
      << r.err;
  EXPECT_LT(secs, 2.0) << "the 3 s command never ran";
}

TEST_P(RecordCli, HardwareEventFallsBackToCpuClockWithoutAPmu) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  if (system::Capabilities::current().hardware_pmu) GTEST_SKIP() << "this machine has a PMU";
  TempDir dir;
  const auto out = dir.file("cycles.pb.gz");
  const auto r = run(
      {perfscope_binary(), "record", "-e", "cycles", "-o", out, "--", target("ps-burn"), "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sampling cpu-clock instead"), std::string::npos) << r.err;
  EXPECT_GT(total(flatten(load(out))), 5);
}

TEST_P(RecordCli, ExistingProcessByPid) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  TempDir dir;
  const auto out = dir.file("pid.pb.gz");
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(target("ps-burn").c_str(), "ps-burn", "3000", nullptr);
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto r = run({perfscope_binary(), "record", "-p", std::to_string(child), "-F", "499", "-d",
                      "1", "-o", out});
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // How much CPU the process got in that second depends on the machine's load; its split does not.
  const auto samples = flatten(load(out));
  const auto all = total(samples, "ps-burn");
  ASSERT_GT(all, 30);
  const auto a = leaf_count(samples, "ps-burn", "perfscope_targets::burn_a(");
  EXPECT_NEAR(100.0 * static_cast<double>(a) / static_cast<double>(all), 75.0, 15.0);
}

TEST(RecordCliUnprivileged, OwnCommandWorksAndSystemWideExplainsTheFix) {
  PS_REQUIRE(root());
  const auto& caps = system::Capabilities::current();
  if (caps.paranoid < 1) GTEST_SKIP() << "perf_event_paranoid " << caps.paranoid << " lets anyone";
  TempDir dir;
  testing::RunOptions nobody;
  nobody.as_nobody = true;
  nobody.cwd = dir.path();
  const auto bin = testing::perfscope_binary_for_nobody();
  const auto own = run({bin, "record", "-F", "499", "-o", "own.pb.gz", "--",
                        testing::target_for_nobody("ps-burn"), "500"},
                       nobody);
  ASSERT_EQ(own.exit_code, 0) << own.err;
  if (caps.paranoid >= 2) {
    EXPECT_NE(own.err.find("kernel space left out"), std::string::npos) << own.err;
  }
  const auto samples = flatten(load(dir.file("own.pb.gz")));
  EXPECT_GT(leaf_count(samples, "ps-burn", "perfscope_targets::burn_a("), 100);

  const auto system_wide = run({bin, "record", "-d", "1", "-o", "all.pb.gz"}, nobody);
  EXPECT_NE(system_wide.exit_code, 0);
  EXPECT_NE(system_wide.err.find("perf_event_paranoid"), std::string::npos) << system_wide.err;
  EXPECT_NE(system_wide.err.find("perfscope doctor"), std::string::npos) << system_wide.err;
  EXPECT_NE(system_wide.err.find("perfscope record -- ./program"), std::string::npos)
      << system_wide.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("all.pb.gz")));

  const auto unwritable = run(
      {bin, "record", "-o", "/root/p.pb.gz", "--", testing::target_for_nobody("ps-burn"), "100"},
      nobody);
  EXPECT_NE(unwritable.exit_code, 0);
  EXPECT_NE(unwritable.err.find("cannot write the profile"), std::string::npos) << unwritable.err;
}

// Issue 19: -F 1000000000 suggested raising perf_event_max_sample_rate to a billion. The rate is
// capped at the kernel's limit, the note says it is beyond what the kernel allows, and a raise is
// suggested only up to the fastest the kernel samples (100000 Hz).
TEST_P(RecordCli, ARateBeyondTheKernelsLimitSuggestsASaneCeiling) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const auto& caps = system::Capabilities::current();
  if (caps.max_sample_rate <= 0) GTEST_SKIP() << "kernel.perf_event_max_sample_rate unreadable";
  TempDir dir;
  const auto r = run({perfscope_binary(), "record", "-F", "1000000000", "-o", dir.file("f.pb.gz"),
                      "--", target("ps-burn"), "50"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1000000000 Hz is beyond what the kernel allows"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sampling at " + std::to_string(caps.max_sample_rate) + " Hz"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("perf_event_max_sample_rate=1000000000"), std::string::npos) << r.err;
  if (caps.max_sample_rate < 100000) {
    EXPECT_NE(r.err.find("kernel.perf_event_max_sample_rate=100000`"), std::string::npos) << r.err;
  } else {
    EXPECT_NE(r.err.find("ask for " + std::to_string(caps.max_sample_rate) + " Hz or less"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace perfscope
