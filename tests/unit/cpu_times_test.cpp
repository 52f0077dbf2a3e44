#include "system/cpu_times.hpp"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

namespace perfscope::system {
namespace {

TEST(CpuTimes, ParsesPerCpuLinesAndLeavesOutTheAggregate) {
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto t = parse_cpu_times(
      "cpu  500 0 100 900 10 0 5 40 0 0\n"
      "cpu0 200 10 50 400 10 3 2 20 0 0\n"
      "cpu1 300 0 50 500\n"
      "intr 1234 0 0\n"
      "cpuX 1 2 3 4\n");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_DOUBLE_EQ(t.at(0).busy_s, (200 + 10 + 50 + 3 + 2) / hz);
  EXPECT_DOUBLE_EQ(t.at(0).idle_s, (400 + 10) / hz);
  EXPECT_DOUBLE_EQ(t.at(0).steal_s, 20 / hz);
  EXPECT_DOUBLE_EQ(t.at(1).busy_s, 350 / hz);  // old kernels: no iowait..steal columns
  EXPECT_DOUBLE_EQ(t.at(1).steal_s, 0);
}

TEST(CpuTimes, DifferenceOfTwoRealReadingsIsNonNegative) {
  const auto a = read_cpu_times();
  ASSERT_FALSE(a.empty()) << "/proc/stat has per-CPU lines";
  // 100 ms of CPU: ten ticks at the usual USER_HZ of 100.
  const auto cpu_now = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  volatile unsigned long x = 0;
  for (const double until = cpu_now() + 0.1; cpu_now() < until;) {
    for (int i = 0; i < 100000; ++i) x = x + 1;
  }
  const auto d = cpu_times_between(a, read_cpu_times());
  ASSERT_EQ(d.size(), a.size());
  double total = 0;
  for (const auto& [cpu, t] : d) {
    EXPECT_GE(t.busy_s, 0) << cpu;
    EXPECT_GE(t.idle_s, 0) << cpu;
    EXPECT_GE(t.steal_s, 0) << cpu;
    total += t.busy_s;
  }
  EXPECT_GT(total, 0) << "the loop above ran on some CPU";
}

}  // namespace
}  // namespace perfscope::system
