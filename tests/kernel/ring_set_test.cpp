// RingSet against the real kernel: events of several threads on every CPU redirected into one
// ring per CPU (mapped first, then redirected), a target that exits (its events and its pidfd hang
// up and leave the wait set without making the waits spin), a thread that vanished before its
// events were opened, and rings halved to fit an unprivileged user's locked-memory budget.
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "core/files.hpp"
#include "core/unique_fd.hpp"
#include "sampling/ring_set.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::sampling {
namespace {

using testing::target;

// cpu-clock samples of user space every millisecond of a thread's CPU time, with the thread and
// time only.
RingEvent cpu_clock_samples() {
  RingEvent e;
  e.name = "cpu-clock";
  e.attr.size = sizeof e.attr;
  e.attr.type = PERF_TYPE_SOFTWARE;
  e.attr.config = PERF_COUNT_SW_CPU_CLOCK;
  e.attr.sample_period = 1'000'000;
  e.attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
  e.attr.disabled = 1;
  e.attr.exclude_kernel = 1;
  e.attr.exclude_hv = 1;
  return e;
}

// cpu-clock samples of `targets` on every online CPU.
RingSetOptions sampling_of(std::vector<pid_t> targets, std::size_t ring_pages = 8) {
  RingSetOptions o;
  o.events = {cpu_clock_samples()};
  o.targets = std::move(targets);
  o.ring_pages = ring_pages;
  return o;
}

// Counts SAMPLE records by thread (the pid, tid and time that open their body).
class SamplesByThread : public RecordSink {
 public:
  void on_record(std::span<const std::byte> record) override {
    perf_event_header h{};
    std::memcpy(&h, record.data(), sizeof h);
    if (h.type != PERF_RECORD_SAMPLE || record.size() < sizeof h + 16) return;
    std::uint32_t tid = 0;
    std::uint64_t time = 0;
    std::memcpy(&tid, record.data() + sizeof h + 4, sizeof tid);
    std::memcpy(&time, record.data() + sizeof h + 8, sizeof time);
    ++by_tid[static_cast<pid_t>(tid)];
    if (time > last_time[static_cast<pid_t>(tid)]) last_time[static_cast<pid_t>(tid)] = time;
  }
  void on_pass_end(std::uint64_t pass_start) override {
    EXPECT_GE(pass_start, last_pass_start) << "pass starts are CLOCK_MONOTONIC, in order";
    last_pass_start = pass_start;
    ++passes;
  }
  std::map<pid_t, std::uint64_t> by_tid;
  std::map<pid_t, std::uint64_t> last_time;  // CLOCK_MONOTONIC ns
  std::uint64_t last_pass_start = 0;
  int passes = 0;
};

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The threads of `pid` once it has at least `count` (the readiness signal of ps-threads: its
// workers exist); empty after 10 s without.
std::vector<pid_t> threads_once(pid_t pid, std::size_t count) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    auto names = list_directory("/proc/" + std::to_string(pid) + "/task");
    if (names && names->size() >= count) {
      std::vector<pid_t> tids;
      for (const auto& n : *names) tids.push_back(static_cast<pid_t>(std::stol(n)));
      return tids;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

TEST(RingSet, RedirectsEveryThreadOfATargetIntoOneRingPerCpu) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  testing::TempDir dir;
  testing::BackgroundProcess p({target("ps-threads"), "3", "3000"}, dir.file("threads.log"));
  const auto tids = threads_once(p.pid(), 4);
  ASSERT_EQ(tids.size(), 4u) << "ps-threads 3: the main thread and three workers";

  auto rings = RingSet::open(sampling_of(tids), system::Capabilities::current());
  ASSERT_TRUE(rings) << rings.error().describe();
  const auto online = CpuSet::online();
  ASSERT_TRUE(online);
  EXPECT_EQ(rings->ring_count(), online->size()) << "one ring per CPU for four threads";
  EXPECT_EQ(rings->rings_watched(), rings->ring_count());
  EXPECT_TRUE(rings->vanished().empty());
  ASSERT_TRUE(rings->enable());

  SamplesByThread sink;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const auto workers_seen = [&] {
    int seen = 0;
    for (pid_t tid : tids) seen += tid != p.pid() && sink.by_tid[tid] >= 20 ? 1 : 0;
    return seen;
  };
  while (workers_seen() < 3 && std::chrono::steady_clock::now() < end) {
    auto woken = rings->wait(100);
    ASSERT_TRUE(woken) << woken.error().describe();
    rings->drain(sink);
  }
  ASSERT_TRUE(rings->disable());
  rings->drain(sink);
  for (pid_t tid : tids) {
    if (tid == p.pid()) continue;
    EXPECT_GE(sink.by_tid[tid], 20u) << "worker " << tid << " sampled through its CPU's ring";
  }
  EXPECT_EQ(rings->stats().ring_errors, 0u);
  EXPECT_GT(sink.passes, 0);
}

TEST(RingSet, TargetThatExitsLeavesTheWaitSetWhileTheOthersKeepDelivering) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  testing::TempDir dir;
  // A only has to exit; B burns CPU in one worker thread for the whole test.
  testing::BackgroundProcess a({target("ps-sleeper"), "0"}, dir.file("a.log"));
  testing::BackgroundProcess b({target("ps-threads"), "1", "30000"}, dir.file("b.log"));
  const auto b_tids = threads_once(b.pid(), 2);
  ASSERT_EQ(b_tids.size(), 2u);
  ASSERT_EQ(threads_once(a.pid(), 1).size(), 1u);
  pid_t worker = b_tids[0] == b.pid() ? b_tids[1] : b_tids[0];
  // A first: its events own the rings.
  std::vector<pid_t> targets{a.pid()};
  targets.insert(targets.end(), b_tids.begin(), b_tids.end());
  auto rings = RingSet::open(sampling_of(targets), system::Capabilities::current());
  ASSERT_TRUE(rings) << rings.error().describe();
  // A's pidfd too, as `record -p A,B` watches it: once A is reaped it hangs up for good.
  const UniqueFd a_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, a.pid(), 0)));
  ASSERT_GE(a_pidfd.get(), 0);
  ASSERT_TRUE(rings->watch(a_pidfd.get()));
  ASSERT_TRUE(rings->enable());

  ASSERT_EQ(a.stop(SIGKILL), 128 + SIGKILL);
  const std::uint64_t a_gone = monotonic_now_ns();
  SamplesByThread sink;
  int waits = 0, woken_by_pidfd = 0;
  const double cpu_before = thread_cpu_seconds();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < end) {
    auto woken = rings->wait(100);
    ASSERT_TRUE(woken) << woken.error().describe();
    woken_by_pidfd += *woken ? 1 : 0;
    rings->drain(sink);
    ++waits;
  }
  const double cpu_used = thread_cpu_seconds() - cpu_before;
  // Hung-up events and pidfds are level-triggered: kept in the epoll set, every wait would return
  // at once.
  EXPECT_LT(waits, 50) << "1 s of 100 ms waits";
  EXPECT_EQ(woken_by_pidfd, 1) << "A's exit is reported once";
  EXPECT_LT(cpu_used, 0.3) << "CPU time of 1 s of waiting";
  EXPECT_GE(rings->stats().hangups, rings->ring_count()) << "A's event on every CPU hung up";
  EXPECT_EQ(rings->rings_watched(), rings->ring_count()) << "each ring now watched through B";
  EXPECT_GT(sink.by_tid[worker], 0u);
  EXPECT_GT(sink.last_time[worker], a_gone) << "B's samples still arrive after A exited";

  // Once B is gone too, no event is left to watch: the rings leave the epoll set, and a wait
  // lasts its timeout.
  ASSERT_EQ(b.stop(SIGKILL), 128 + SIGKILL);
  for (int i = 0; i < 20 && rings->rings_watched() > 0; ++i) {
    ASSERT_TRUE(rings->wait(50));
  }
  EXPECT_EQ(rings->rings_watched(), 0u);
  const auto before = std::chrono::steady_clock::now();
  auto woken = rings->wait(200);
  ASSERT_TRUE(woken);
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(150));
  rings->drain(sink);
  EXPECT_EQ(rings->stats().ring_errors, 0u);
}

TEST(RingSet, ThreadThatVanishedIsSkippedUnlessEveryTargetDid) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  pid_t gone = 0;
  std::thread([&] { gone = ::gettid(); }).join();  // its tid is free once it has exited
  const pid_t self = ::gettid();

  auto rings = RingSet::open(sampling_of({gone, self}), system::Capabilities::current());
  ASSERT_TRUE(rings) << rings.error().describe();
  EXPECT_EQ(rings->vanished(), std::vector<pid_t>{gone});
  ASSERT_TRUE(rings->enable());
  const double start = thread_cpu_seconds();
  volatile unsigned long x = 0;
  while (thread_cpu_seconds() - start < 0.2) x = x + 1;
  ASSERT_TRUE(rings->disable());
  SamplesByThread sink;
  rings->drain(sink);
  EXPECT_GE(sink.by_tid[self], 10u) << "200 ms of this thread at 1 kHz";

  auto none = RingSet::open(sampling_of({gone}), system::Capabilities::current());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().errnum, ESRCH);
  EXPECT_NE(none.error().hint.find("every target thread has exited"), std::string::npos)
      << none.error().describe();
}

// An unprivileged user may lock perf_event_mlock_kb per CPU for its rings: 1024-page rings do not
// fit, so they are halved until they do. Runs in a child that becomes nobody.
TEST(RingSet, RingsAreHalvedToFitTheLockedMemoryBudget) {
  PS_REQUIRE(root(), paranoid(2), pmu("software"));
  const auto& caps = system::Capabilities::current();
  if (caps.paranoid < 0) GTEST_SKIP() << "perf_event_paranoid -1: no locked-memory limit";
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string report = "cannot become nobody";
    // The kernel lets a user lock RLIMIT_MEMLOCK beyond perf_event_mlock_kb: keep that small.
    const rlimit small{64 * 1024, 64 * 1024};
    if (::setrlimit(RLIMIT_MEMLOCK, &small) == 0 && ::setgroups(0, nullptr) == 0 &&
        ::setresgid(65534, 65534, 65534) == 0 && ::setresuid(65534, 65534, 65534) == 0) {
      auto rings = RingSet::open(sampling_of({::gettid()}, 1024), system::Capabilities::current());
      report = rings ? std::to_string(rings->ring_pages())
                     : (over_mlock_budget(rings.error()) ? "over budget: " : "") +
                           rings.error().describe();
    }
    (void)!::write(pipe_fds[1], report.data(), report.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  ::waitpid(child, nullptr, 0);
  if (report.rfind("over budget: ", 0) == 0) {
    // Other tests running as nobody hold the budget now: even 8 pages did not fit, and the hint
    // says what to raise.
    EXPECT_NE(report.find("perf_event_mlock_kb"), std::string::npos) << report;
    return;
  }
  ASSERT_FALSE(report.empty());
  ASSERT_TRUE(std::isdigit(static_cast<unsigned char>(report[0]))) << report;
  const auto pages = std::stoul(report);
  EXPECT_LT(pages, 1024u);
  EXPECT_GE(pages, 8u);
}

}  // namespace
}  // namespace perfscope::sampling
