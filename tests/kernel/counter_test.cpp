// Counting real software events and tracepoints on this machine.
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmath>

#include "counting/counter.hpp"
#include "counting/counter_group.hpp"
#include "events/event_spec.hpp"
#include "support/child.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using counting::Counter;
using counting::CounterGroup;
using counting::CounterOptions;
using counting::Target;
using testing::HeldChild;

events::EventSpec spec(const char* name) {
  auto s = events::parse_event(name);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().describe());
  return s ? *s : events::EventSpec{};
}

std::uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

void spin_for_ns(std::uint64_t ns) {
  const std::uint64_t until = thread_cpu_ns() + ns;
  volatile unsigned long x = 0;
  while (thread_cpu_ns() < until) x = x + 1;
}

// Opens `name` on a held child running `argv`, lets it run to the end, returns the reading.
counting::Reading count_child(const char* name, const std::vector<std::string>& argv,
                              bool inherit = true) {
  HeldChild child(argv);
  auto c = Counter::open(spec(name), Target{child.pid(), -1},
                         CounterOptions{.inherit = inherit, .enable_on_exec = true});
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().describe());
  child.release();
  EXPECT_EQ(child.wait(), 0);
  if (!c) return {};
  auto r = c->read();
  EXPECT_TRUE(r.has_value());
  return r ? *r : counting::Reading{};
}

TEST(Counter, TaskClockOfThisThreadMatchesItsCpuTime) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto c = Counter::open(spec("task-clock"), Target{0, -1}, {.start_disabled = true});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  const double stolen_before = testing::stolen_cpu_seconds();
  ASSERT_TRUE(c->enable());
  const std::uint64_t before = thread_cpu_ns();
  spin_for_ns(50'000'000);
  const std::uint64_t used = thread_cpu_ns() - before;
  ASSERT_TRUE(c->disable());
  const double stolen_ns = (testing::stolen_cpu_seconds() - stolen_before) * 1e9;
  auto r = c->read();
  ASSERT_TRUE(r.has_value());
  // task-clock runs on while the hypervisor steals this vCPU; the thread's CPU clock does not.
  // So the reading may exceed the thread's time by what was stolen meanwhile (summed over CPUs,
  // an upper bound), on top of the 5% allowed for enable and disable.
  const double value = static_cast<double>(r->value);
  const double want = static_cast<double>(used);
  EXPECT_GE(value, 0.95 * want);
  EXPECT_LE(value, 1.05 * want + stolen_ns) << "stolen meanwhile: " << stolen_ns << " ns";
  EXPECT_EQ(r->time_enabled, r->time_running);  // software events never multiplex
}

TEST(Counter, PageFaultsOfThisProcessCoverTouchedPages) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  constexpr long kPages = 512;
  const long page = sysconf(_SC_PAGESIZE);
  auto c = Counter::open(spec("page-faults"), Target{0, -1}, {.start_disabled = true});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  void* mem = mmap(nullptr, static_cast<std::size_t>(kPages * page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_TRUE(c->enable());
  for (long i = 0; i < kPages; ++i) static_cast<volatile char*>(mem)[i * page] = 1;
  ASSERT_TRUE(c->disable());
  munmap(mem, static_cast<std::size_t>(kPages * page));
  auto r = c->read();
  ASSERT_TRUE(r.has_value());
  EXPECT_GE(r->value, static_cast<std::uint64_t>(kPages));
  // Under AddressSanitizer each 8 pages touched also touch one shadow page.
  EXPECT_LT(r->value, static_cast<std::uint64_t>(kPages + kPages / 8 + 64));
}

TEST(Counter, EnableDisableResetControlCounting) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto c = Counter::open(spec("task-clock"), Target{0, -1}, {.start_disabled = true});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  spin_for_ns(5'000'000);
  EXPECT_EQ(c->read()->value, 0u) << "a disabled counter counts nothing";
  ASSERT_TRUE(c->enable());
  spin_for_ns(5'000'000);
  ASSERT_TRUE(c->disable());
  const auto stopped = c->read()->value;
  EXPECT_GT(stopped, 4'000'000u);
  spin_for_ns(5'000'000);
  EXPECT_EQ(c->read()->value, stopped) << "disable() stops counting";
  ASSERT_TRUE(c->reset());
  EXPECT_EQ(c->read()->value, 0u);
}

TEST(Counter, PageFaultsOfAChildProgramAtLeastItsPages) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const auto r = count_child("page-faults", {testing::target("ps-touch_pages"), "3000"});
  EXPECT_GE(r.value, 3000u);
  EXPECT_LT(r.value, 3000u + 400u) << "a touch is one fault; the rest is program start-up";
}

TEST(Counter, ContextSwitchesOfASleeperAtLeastItsSleeps) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const auto r = count_child("context-switches", {testing::target("ps-sleeper"), "25"});
  EXPECT_GE(r.value, 25u);
}

TEST(Counter, TaskClockOfABusyChildCloseToItsCpuTime) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  HeldChild child({testing::target("ps-busy"), "150"});
  auto c = Counter::open(spec("task-clock"), Target{child.pid(), -1}, {.enable_on_exec = true});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  const double stolen_before = testing::stolen_cpu_seconds();
  child.release();
  ASSERT_EQ(child.wait(), 0);
  const double stolen_ns = (testing::stolen_cpu_seconds() - stolen_before) * 1e9;
  // The child's CLOCK_PROCESS_CPUTIME_ID since its main began: the counter starts at the exec, so
  // the forked copy's time before it (copy-on-write faults of a big parent) is not compared.
  const double reported_ns = std::stod(child.output());
  const double counted_ns = static_cast<double>(c->read()->value);
  // task-clock runs on perf's clock while the task is on a CPU, so in a VM it also counts time the
  // host stole from this guest, which CLOCK_PROCESS_CPUTIME_ID leaves out; it also counts exec and
  // exit. It can be longer than the child's own figure, never much shorter. The steal time of the
  // whole machine over the child's run (an upper bound of the child's share) is added to the
  // bound: CI saw 1.16x on a host under load.
  EXPECT_GE(counted_ns, 0.97 * reported_ns);
  EXPECT_LE(counted_ns, 1.15 * reported_ns + stolen_ns) << "stolen: " << stolen_ns << " ns";
}

TEST(Counter, InheritCountsChildProcesses) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const std::vector<std::string> argv{testing::target("ps-spawn_children"), "4", "500"};
  const auto with = count_child("page-faults", argv, true);
  const auto without = count_child("page-faults", argv, false);
  EXPECT_GE(with.value, 2000u) << "4 children x 500 pages";
  EXPECT_LT(without.value, 2000u) << "the parent alone touches none of those pages";
  EXPECT_GT(with.value, without.value + 1900);
}

TEST(Counter, TracepointCountsExactSyscalls) {
  PS_REQUIRE(paranoid(2), pmu("tracepoint"), tracefs());
  const auto r =
      count_child("syscalls:sys_enter_getpid", {testing::target("ps-getpid_loop"), "777"});
  EXPECT_GE(r.value, 777u);
  EXPECT_LE(r.value, 777u + 3) << "libc start-up makes at most a few getpid calls";
}

TEST(Counter, SystemWideCpuClockOnOneCpuFollowsWallTime) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  auto c = Counter::open(spec("cpu-clock"), Target{-1, 0});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  usleep(100'000);
  auto r = c->read();
  ASSERT_TRUE(r.has_value());
  // cpu-clock on a CPU runs whether the CPU is busy or idle.
  EXPECT_GT(r->value, 90'000'000u);
  EXPECT_LT(r->value, 2'000'000'000u);
}

TEST(CounterGroup, MembersShareTimesAndCountTogether) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  HeldChild child({testing::target("ps-touch_pages"), "2000"});
  const std::vector<events::EventSpec> specs{spec("task-clock"), spec("page-faults"), spec("cs")};
  auto g =
      CounterGroup::open(specs, Target{child.pid(), -1}, {.inherit = true, .enable_on_exec = true});
  ASSERT_TRUE(g.has_value()) << g.error().describe();
  child.release();
  ASSERT_EQ(child.wait(), 0);
  auto r = g->read();
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_GT((*r)[0].value, 0u);
  EXPECT_GE((*r)[1].value, 2000u);
  for (const auto& m : *r) {
    EXPECT_EQ(m.time_enabled, (*r)[0].time_enabled);
    EXPECT_EQ(m.time_running, (*r)[0].time_running);
  }
}

// A CPU-wide group that counts from the start, led by cpu-clock: its members must count too.
// (They read 0 when they joined a leader that was already counting; see CounterGroup::open.)
TEST(CounterGroup, CpuWideGroupLedByCpuClockCountsItsMembers) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  cpu_set_t old_mask;
  ASSERT_EQ(sched_getaffinity(0, sizeof old_mask, &old_mask), 0);
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  ASSERT_EQ(sched_setaffinity(0, sizeof cpu0, &cpu0), 0);
  const std::vector<events::EventSpec> specs{spec("cpu-clock"), spec("page-faults")};
  auto g = CounterGroup::open(specs, Target{-1, 0}, {});
  constexpr long kPages = 512;
  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, static_cast<std::size_t>(kPages * page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem != MAP_FAILED) {
    for (long i = 0; i < kPages; ++i) static_cast<volatile char*>(mem)[i * page] = 1;
    munmap(mem, static_cast<std::size_t>(kPages * page));
  }
  sched_setaffinity(0, sizeof old_mask, &old_mask);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_TRUE(g.has_value()) << g.error().describe();
  auto r = g->read();
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_GT((*r)[0].value, 0u);
  EXPECT_GE((*r)[1].value, static_cast<std::uint64_t>(kPages));
}

TEST(CounterGroup, GroupControlAppliesToAllMembers) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const std::vector<events::EventSpec> specs{spec("task-clock"), spec("cpu-clock")};
  auto g = CounterGroup::open(specs, Target{0, -1}, {.start_disabled = true});
  ASSERT_TRUE(g.has_value()) << g.error().describe();
  ASSERT_TRUE(g->enable());
  spin_for_ns(10'000'000);
  ASSERT_TRUE(g->disable());
  auto r = g->read();
  ASSERT_TRUE(r.has_value());
  EXPECT_GT((*r)[0].value, 9'000'000u);
  EXPECT_GT((*r)[1].value, 9'000'000u);
  ASSERT_TRUE(g->reset());
  r = g->read();
  EXPECT_EQ((*r)[0].value, 0u);
  EXPECT_EQ((*r)[1].value, 0u);
}

TEST(Counter, HardwareCyclesCount) {
  PS_REQUIRE(paranoid(2), hardware_pmu());
  auto c = Counter::open(spec("cycles:u"), Target{0, -1});
  ASSERT_TRUE(c.has_value()) << c.error().describe();
  spin_for_ns(5'000'000);
  EXPECT_GT(c->read()->value, 0u);
}

TEST(Counter, HardwareEventWithoutPmuExplainsAndNamesAlternatives) {
  PS_REQUIRE(paranoid(2));
  if (system::Capabilities::current().hardware_pmu) {
    GTEST_SKIP() << "requirement not met: this test needs a machine WITHOUT a hardware PMU";
  }
  auto c = Counter::open(spec("cycles"), Target{0, -1});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().errnum, ENOENT);
  EXPECT_NE(c.error().hint.find("no hardware PMU"), std::string::npos) << c.error().hint;
  EXPECT_NE(c.error().hint.find("cpu-clock"), std::string::npos) << c.error().hint;
}

TEST(Counter, MissingProcessIsExplained) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto c = Counter::open(spec("task-clock"), Target{999'999'999, -1});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().errnum, ESRCH);
  EXPECT_NE(c.error().op.find("no process with pid 999999999"), std::string::npos);
}

}  // namespace
}  // namespace perfscope
