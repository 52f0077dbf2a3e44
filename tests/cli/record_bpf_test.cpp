// perfscope record --backend bpf: in-kernel aggregation feeding the same profile as the perf
// backend. Run as root (or with CAP_BPF + CAP_PERFMON); as anyone else the tests say why they skip.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "bpf/profiler.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::flatten;
using testing::leaf_count;
using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;
using testing::total;

// burn_a's share of ps-burn's samples whose leaf is burn_a or burn_b.
double burn_a_share(const std::vector<testing::FlatSample>& samples) {
  const auto a = leaf_count(samples, "ps-burn", "perfscope_targets::burn_a(");
  const auto b = leaf_count(samples, "ps-burn", "perfscope_targets::burn_b(");
  return a + b > 0 ? 100.0 * static_cast<double>(a) / static_cast<double>(a + b) : -1;
}

// "CPU N: X samples" lines of the summary, summed.
long per_cpu_sum(const std::string& out) {
  long sum = 0;
  const std::regex line(R"(CPU \d+: (\d+) samples)");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) {
    sum += std::stol((*it)[1]);
  }
  return sum;
}

long collected(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex(R"(Collected (\d+) samples)")) ? std::stol(m[1]) : -1;
}

TEST(RecordBpf, AttributesLikeThePerfBackendWithinSevenPoints) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  std::map<std::string, double> share;
  for (const char* backend : {"bpf", "perf"}) {
    SCOPED_TRACE(backend);
    const auto out = dir.file(std::string(backend) + ".pb.gz");
    const auto r = run({perfscope_binary(), "record", "--backend", backend, "-F", "999", "-o", out,
                        "--", target("ps-burn"), "1500"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(std::string("Backend: ") + backend), std::string::npos) << r.err;
    const auto samples = flatten(load(out));
    share[backend] = burn_a_share(samples);
    EXPECT_GT(total(samples, "ps-burn"), 500) << r.err;
    // Only the command was sampled.
    EXPECT_EQ(total(samples), total(samples, "ps-burn")) << r.err;
  }
  EXPECT_NEAR(share["bpf"], 75.0, 7.0);
  EXPECT_NEAR(share["bpf"], share["perf"], 7.0);
}

TEST(RecordBpf, AutoPicksBpfAsRootAndPerCpuCountsSumToTheTotal) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  const auto out = dir.file("all.pb.gz");
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const auto r = run({perfscope_binary(), "record", "-a", "-o", out, "--", target("ps-threads"),
                      std::to_string(cpus), "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Backend: bpf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Lost: 0 samples (BPF counts map full)"), std::string::npos) << r.err;
  const long n = collected(r.err);
  // Two different stacks may hash to one bucket of the stack map (-EEXIST): with about 60 stacks in
  // 16384 buckets the birthday odds are about one run in ten, so a collision or two is normal. They
  // must be counted in the summary and stay rare.
  std::smatch lost;
  ASSERT_TRUE(std::regex_search(
      r.err, lost, std::regex(R"(Stacks not captured: kernel (\d+) \(map collision\))")))
      << r.err;
  EXPECT_LE(std::stol(lost[1]), n / 20) << r.err;
  EXPECT_GT(n, 99 * cpus / 2) << r.err;
  EXPECT_EQ(per_cpu_sum(r.err), n) << r.err;
  const auto samples = flatten(load(out));
  EXPECT_EQ(total(samples), n);
  std::map<std::int64_t, std::int64_t> by_cpu;
  for (const auto& s : samples) by_cpu[s.cpu] += s.count;
  EXPECT_EQ(static_cast<long>(by_cpu.size()), cpus) << "every CPU ran a burning thread";
  // Each thread burns 1 s of CPU: about 99 samples each in thread_burn, however long other
  // programs on a busy machine stretch the recording (so not a share of all samples).
  EXPECT_GT(leaf_count(samples, "ps-threads", "perfscope_targets::thread_burn("), 80 * cpus)
      << r.err;
}

TEST(RecordBpf, ShortLivedProcessesAreSymbolized) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  const auto out = dir.file("short.pb.gz");
  // Three processes of 300 ms each, started and gone while the recording goes on. A copy of
  // ps-burn under its own name, so that other tests' ps-burn (ctest -j) are not counted.
  const std::string burn = dir.file("ps-shortlived");
  std::filesystem::copy_file(target("ps-burn"), burn);
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "-F", "499", "-a", "-o",
                      out, "--", "sh", "-c", burn + " 300; " + burn + " 300; " + burn + " 300"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  std::set<std::int64_t> pids;
  for (const auto& s : samples) {
    if (s.comm == "ps-shortlived") pids.insert(s.pid);
  }
  EXPECT_EQ(pids.size(), 3u) << r.err;
  const auto a = leaf_count(samples, "ps-shortlived", "perfscope_targets::burn_a(");
  EXPECT_GT(a, total(samples, "ps-shortlived") / 2) << "exited processes still resolve to burn_a";
}

// /proc/PID/comm without its newline ("" once the process is gone).
std::string comm_of(pid_t pid) {
  std::string comm;
  std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
  return comm;
}

TEST(RecordBpf, PidFilterOnlyReportsThatProcessAndFollowsItsChildren) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  // Two busy processes; only the first is asked for. The recording lasts until it exits, after
  // 3 s of its own CPU time (not a wall-clock duration, which a loaded machine would shrink to a
  // few samples of a process that hardly runs).
  auto start_burn = [](const char* cpu_ms) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(target("ps-burn").c_str(), "ps-burn", cpu_ms, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  };
  const pid_t wanted = start_burn("3000");
  const pid_t other = start_burn("600000");
  // Attach once the exec is done, so the profile holds ps-burn and not the test's fork of itself.
  for (int i = 0; i < 100000 && comm_of(wanted) != "ps-burn"; ++i) ::sched_yield();
  const auto out = dir.file("pid.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "-F", "499", "-p",
                      std::to_string(wanted), "-o", out});
  ::kill(wanted, SIGKILL);
  ::kill(other, SIGKILL);
  ::waitpid(wanted, nullptr, 0);
  ::waitpid(other, nullptr, 0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(out));
  ASSERT_GT(total(samples), 100) << r.err;
  for (const auto& s : samples) EXPECT_EQ(s.pid, wanted) << s.comm;

  // A command's children are followed: sh forks ps-burn.
  const auto out2 = dir.file("children.pb.gz");
  const auto r2 = run({perfscope_binary(), "record", "--backend", "bpf", "-F", "499", "-o", out2,
                       "--", "sh", "-c", target("ps-burn") + " 500; true"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_GT(leaf_count(flatten(load(out2)), "ps-burn", "perfscope_targets::burn_a("), 100)
      << r2.err;
}

// In-kernel counts carry no time of their own: each drain's are labelled with the middle of the
// second they were counted in, so --time and --by time work on eBPF recordings too.
TEST(RecordBpf, CountsCarryTheSecondTheyWereCountedIn) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  const auto out = dir.file("time.pb.gz");
  // 2.5 s of ps-burn's own CPU: at least three drains, however loaded the machine.
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "-F", "499", "-o", out,
                      "--", target("ps-burn"), "2500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = load(out);
  std::map<std::int64_t, std::int64_t> by_second;  // time label (ms) -> samples
  std::int64_t unlabelled = 0;
  for (const auto& sample : p.samples()) {
    bool labelled = false;
    for (const auto& label : sample.labels) {
      if (p.string(label.key) != "time") continue;
      EXPECT_EQ(p.string(label.num_unit), "milliseconds");
      EXPECT_EQ(label.num % 1000, 0) << "a drain interval is 1 s wide";
      by_second[label.num] += sample.values[0];
      labelled = true;
    }
    if (!labelled) unlabelled += sample.values[0];
  }
  EXPECT_EQ(unlabelled, 0);
  ASSERT_GE(by_second.size(), 3U) << r.err;
  EXPECT_EQ(by_second.begin()->first, 0);
  // A cut in time keeps that second's samples only.
  const auto cut = run({perfscope_binary(), "report", "-i", out, "--time", "1-2", "--folded"});
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  std::int64_t cut_total = 0;
  std::istringstream lines(cut.out);
  for (std::string line; std::getline(lines, line);) {
    cut_total += std::stoll(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(cut_total, by_second[1000]) << cut.out;
  const auto periods = run({perfscope_binary(), "report", "-i", out, "--by", "time"});
  ASSERT_EQ(periods.exit_code, 0) << periods.err;
  EXPECT_NE(periods.out.find("1000 ms each"), std::string::npos) << periods.out;
  EXPECT_NE(periods.out.find("1.0-2.0 s"), std::string::npos) << periods.out;
}

TEST(RecordBpf, TinyStackMapCountsCollisionsAndShowsThem) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  const auto out = dir.file("tiny.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "--bpf-stack-entries", "2",
                      "-F", "999", "-a", "-o", out, "--", target("ps-burn"), "800"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.err, m,
      std::regex(
          R"(Stacks not captured: kernel (\d+) \(map collision\) \+ \d+ \(error\), user (\d+) \(map collision\))")))
      << r.err;
  const long collisions = std::stol(m[1]) + std::stol(m[2]);
  EXPECT_GT(collisions, 0) << r.err;
  const auto samples = flatten(load(out));
  std::int64_t lost = 0;
  for (const auto& s : samples) {
    if (testing::contains(s.frames, "stack lost: BPF stack map")) lost += s.count;
  }
  EXPECT_GT(lost, 0) << "samples whose stack was not stored keep their weight and say why";
}

TEST(RecordBpfOptions, BadValuesAreClearErrorsAndWriteNothing) {
  TempDir dir;
  const auto out = dir.file("bad.pb.gz");
  const auto backend = run({perfscope_binary(), "record", "--backend", "ebpf", "-o", out, "--",
                            target("ps-burn"), "10"});
  EXPECT_NE(backend.exit_code, 0);
  EXPECT_NE(backend.err.find("unknown backend 'ebpf'"), std::string::npos) << backend.err;
  EXPECT_NE(backend.err.find("--backend auto, bpf"), std::string::npos) << backend.err;
  for (const char* bad : {"0", "99999999"}) {
    const auto entries = run({perfscope_binary(), "record", "--bpf-stack-entries", bad, "-o", out,
                              "--", target("ps-burn"), "10"});
    EXPECT_NE(entries.exit_code, 0) << bad;
    EXPECT_NE(entries.err.find("--bpf-stack-entries must be between 1 and"), std::string::npos)
        << entries.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(RecordBpfUnprivileged, RefusesOrFallsBackAsNobodyAndWorksWithCapabilities) {
  PS_REQUIRE(root(), bpf_backend(), program("setcap"));
  TempDir dir;
  testing::RunOptions nobody;
  nobody.as_nobody = true;
  nobody.cwd = dir.path();
  const auto bin = testing::perfscope_binary_for_nobody();
  const auto burn = testing::target_for_nobody("ps-burn");

  const auto refused =
      run({bin, "record", "--backend", "bpf", "-o", "bpf.pb.gz", "--", burn, "200"}, nobody);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("CAP_BPF"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("setcap"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("bpf.pb.gz")));

  const auto fallback =
      run({bin, "record", "-F", "499", "-o", "auto.pb.gz", "--", burn, "300"}, nobody);
  ASSERT_EQ(fallback.exit_code, 0) << fallback.err;
  EXPECT_NE(fallback.err.find("Backend: perf (ring buffers), as eBPF cannot run here"),
            std::string::npos)
      << fallback.err;

  // A copy of the binary with file capabilities works for nobody with the eBPF backend.
  const std::string capped = dir.file("perfscope-caps");
  std::filesystem::copy_file(bin, capped);
  const auto setcap =
      run({"/bin/sh", "-c", "setcap cap_perfmon,cap_bpf,cap_syslog=ep \"$0\"", capped});
  ASSERT_EQ(setcap.exit_code, 0) << setcap.err;
  const auto with_caps = run(
      {capped, "record", "--backend", "bpf", "-F", "499", "-o", "caps.pb.gz", "--", burn, "500"},
      nobody);
  ASSERT_EQ(with_caps.exit_code, 0) << with_caps.err;
  EXPECT_NE(with_caps.err.find("Backend: bpf"), std::string::npos) << with_caps.err;
  EXPECT_GT(
      leaf_count(flatten(load(dir.file("caps.pb.gz"))), "ps-burn", "perfscope_targets::burn_a("),
      100);
}

}  // namespace
}  // namespace perfscope
