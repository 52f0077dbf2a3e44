// monitor::Source on real counters: software events on this process, and (with a hardware PMU)
// more hardware counters than the PMU has, so the kernel multiplexes and the points are scaled.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "monitor/source.hpp"
#include "support/requirements.hpp"

namespace perfscope::monitor {
namespace {

void touch_pages(long pages) {
  const long page = ::sysconf(_SC_PAGESIZE);
  auto* p = static_cast<volatile char*>(::mmap(nullptr, static_cast<std::size_t>(pages * page),
                                               PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                               -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  for (long i = 0; i < pages; ++i) p[i * page] = 1;
  ::munmap(const_cast<char*>(p), static_cast<std::size_t>(pages * page));
}

TEST(MonitorSource, PollsDeltasAndTotalsOfThisProcess) {
  auto groups = events::parse_event_list("page-faults,task-clock");
  ASSERT_TRUE(groups) << groups.error().describe();
  const std::vector<ScopedTarget> targets{{{0, -1}, -1, ::getpid(), {}}};
  auto source = Source::open(*groups, targets, {}, false);
  ASSERT_TRUE(source) << source.error().describe();
  ASSERT_EQ(source->series().size(), 2u);
  EXPECT_EQ(source->series()[0].metric, "perf_software_PAGE_FAULTS");
  EXPECT_EQ(source->series()[0].pid, ::getpid());
  EXPECT_EQ(source->series()[1].metric, "perf_software_TASK_CLOCK");

  std::vector<Point> points;
  touch_pages(3000);
  ASSERT_TRUE(source->poll(1, points));
  touch_pages(2000);
  ASSERT_TRUE(source->poll(2, points));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_GE(points[0].delta, 3000u);
  EXPECT_GE(points[2].delta, 2000u);
  EXPECT_LT(points[2].delta, 3000u);  // the second interval's faults only
  EXPECT_EQ(points[2].total, points[0].delta + points[2].delta);
  EXPECT_GT(points[3].delta, 0u);                                  // task-clock ns
  for (const auto& p : points) EXPECT_DOUBLE_EQ(p.accuracy, 1.0);  // software: never multiplexed
}

// Every CPU's counters (what `monitor -a` polls): each CPU's cpu-clock runs for the whole interval,
// and polling, which reads each CPU's counters on that CPU, leaves this thread's CPUs as they were.
TEST(MonitorSource, EveryCpuReadOnItsOwnCpuAndAffinityRestored) {
  PS_REQUIRE(paranoid(0), pmu("software"));
  auto groups = events::parse_event_list("cpu-clock");
  ASSERT_TRUE(groups) << groups.error().describe();
  std::vector<ScopedTarget> targets;
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (int cpu = 0; cpu < cpus; ++cpu) targets.push_back({{-1, cpu}, cpu, -1, {}});
  auto source = Source::open(*groups, targets, {}, false);
  ASSERT_TRUE(source) << source.error().describe();
  ASSERT_EQ(source->series().size(), static_cast<std::size_t>(cpus));

  cpu_set_t before, after;
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  std::vector<Point> points;
  ASSERT_TRUE(source->poll(1, points));
  ::usleep(100'000);
  points.clear();
  ASSERT_TRUE(source->poll(2, points));
  ASSERT_EQ(::sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
  ASSERT_EQ(points.size(), static_cast<std::size_t>(cpus));
  for (const auto& p : points) EXPECT_GT(p.delta, 90'000'000u) << "series " << p.series;
}

TEST(MonitorSource, MultiplexedHardwareCountersAreScaled) {
  PS_REQUIRE(hardware_pmu());
  // More counters than any PMU has: each its own group, all on this thread.
  std::string list;
  for (int i = 0; i < 4; ++i) {
    for (const char* e : {"instructions", "cycles", "branches", "branch-misses"})
      list += std::string(list.empty() ? "" : ",") + e +
              (i == 0   ? ""
               : i == 1 ? ":u"
               : i == 2 ? ":k"
                        : ":uk");
  }
  auto groups = events::parse_event_list(list);
  ASSERT_TRUE(groups) << groups.error().describe();
  const std::vector<ScopedTarget> targets{{{0, -1}, -1, ::getpid(), {}}};
  auto source = Source::open(*groups, targets, {}, false);
  ASSERT_TRUE(source) << source.error().describe();
  std::vector<Point> points;
  ASSERT_TRUE(source->poll(1, points));
  volatile double x = 0;
  for (int i = 0; i < 50'000'000; ++i) x = x + i * 0.5;
  points.clear();
  ASSERT_TRUE(source->poll(2, points));
  bool multiplexed = false;
  for (const auto& p : points) {
    EXPECT_GE(p.accuracy, 0.0);
    EXPECT_LE(p.accuracy, 1.0);
    if (p.accuracy < 1.0 && p.accuracy > 0.0) multiplexed = true;
  }
  EXPECT_TRUE(multiplexed) << "16 hardware counters all ran the whole time";
  // instructions (user space) of the loop: scaled, at least the loop's 50M iterations.
  EXPECT_GT(points[0].delta, 50'000'000u);
}

}  // namespace
}  // namespace perfscope::monitor
