// The syscall summary model and its strace -c table, over hand-built rows.
#include <gtest/gtest.h>

#include <string>

#include "syscalls/names.hpp"
#include "syscalls/summary.hpp"

namespace perfscope::syscalls {
namespace {

TEST(SyscallNames, ThisArchitecturesNumbersAndErrnoNames) {
#if defined(__x86_64__)
  EXPECT_EQ(syscall_name(0), "read");
  EXPECT_EQ(syscall_name(257), "openat");
  EXPECT_EQ(syscall_name(462), "mseal");  // newer than Debian 12's headers
  EXPECT_EQ(syscall_number("execve"), 59);
#endif
  EXPECT_EQ(syscall_name(99999), "syscall_99999");
  EXPECT_FALSE(syscall_number("no_such_call").has_value());
  EXPECT_EQ(errno_name(2), "ENOENT");
  EXPECT_EQ(errno_name(512), "ERESTARTSYS");
  EXPECT_EQ(errno_name(4000), "E4000");
}

TEST(SyscallSummary, HistogramBucketsArePowersOfTwo) {
  EXPECT_EQ(histogram_bucket(0), 0);
  EXPECT_EQ(histogram_bucket(1), 0);
  EXPECT_EQ(histogram_bucket(2), 1);
  EXPECT_EQ(histogram_bucket(1023), 9);
  EXPECT_EQ(histogram_bucket(1024), 10);
  EXPECT_EQ(histogram_bucket(~0ULL), kHistogramBuckets - 1);
}

TEST(SyscallSummary, CallsMergeWithMinMaxAndUntimedCalls) {
  RowStats a;
  a.add_call(100, 80, false, 0);
  a.add_call(300, 300, true, 2);
  a.add_call(-1, -1, true, 2);  // counted, not timed
  EXPECT_EQ(a.calls, 3U);
  EXPECT_EQ(a.timed, 2U);
  EXPECT_EQ(a.errors, 2U);
  EXPECT_EQ(a.errnos[2], 2U);
  EXPECT_EQ(a.wall_ns, 400U);
  EXPECT_EQ(a.cpu_ns, 380U);
  EXPECT_EQ(a.min_ns, 100U);
  EXPECT_EQ(a.max_ns, 300U);
  RowStats b;
  b.add_call(50, 50, true, 13);
  b.merge(a);
  EXPECT_EQ(b.calls, 4U);
  EXPECT_EQ(b.min_ns, 50U);
  EXPECT_EQ(b.max_ns, 300U);
  EXPECT_EQ(b.errnos.size(), 2U);
  RowStats empty;
  empty.merge(RowStats{});
  EXPECT_EQ(empty.min_ns, 0U);
}

Summary two_rows() {
  Summary s;
  s.cpu_time = true;
  RowStats& openat = s.rows[{0, 0, 257, ""}];
  for (int i = 0; i < 4; ++i) openat.add_call(2000, 1000, i % 2 == 0, 2);
  RowStats& write = s.rows[{0, 0, 1, ""}];
  for (int i = 0; i < 2; ++i) write.add_call(500, 3000, false, 0);
  return s;
}

TEST(SyscallSummary, TableIsStracesSortedByTheChosenTime) {
  const Summary s = two_rows();
  // On-CPU time: write (6 us) before openat (4 us).
  const std::string cpu = format_table(s, {});
  EXPECT_EQ(cpu,
            "% time     seconds  usecs/call     calls    errors syscall\n"
            "------ ----------- ----------- --------- --------- ----------------\n"
            " 60.00    0.000006           3         2           write\n"
            " 40.00    0.000004           1         4         2 openat\n"
            "------ ----------- ----------- --------- --------- ----------------\n"
            "100.00    0.000010           1         6         2 total\n"
            "\n"
            "errors by errno:\n"
            "  openat                                   ENOENT                   2\n");
  // Wall-clock time: openat (8 us) first.
  TableOptions wall;
  wall.wall = true;
  const std::string w = format_table(s, wall);
  EXPECT_NE(w.find(" 88.89    0.000008           2         4         2 openat\n"),
            std::string::npos)
      << w;
}

TEST(SyscallSummary, ByProcessAddsPidAndNameColumns) {
  Summary s;
  s.by = GroupBy::process;
  s.rows[{42, 0, 1, "app"}].add_call(1000, 1000, false, 0);
  const std::string t = format_table(s, {});
  EXPECT_NE(t.find("    errors      pid process          syscall\n"), std::string::npos) << t;
  EXPECT_NE(t.find("100.00    0.000001           1         1                 42 app              "
                   "write\n"),
            std::string::npos)
      << t;
}

TEST(SyscallSummary, HistogramSpansTheOccupiedBuckets) {
  Summary s;
  RowStats& r = s.rows[{0, 0, 0, ""}];
  for (int i = 0; i < 3; ++i) r.add_call(1500, 1500, false, 0);  // [1024, 2048)
  r.add_call(5000, 5000, false, 0);                              // [4096, 8192)
  TableOptions o;
  o.histogram = true;
  const std::string t = format_table(s, o);
  EXPECT_NE(t.find("read: 4 timed calls, wall time per call: min 1.50us, avg 2.38us, max 5.00us"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("   1.02us .. 2.05us           3  |****************************************|"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("   2.05us .. 4.10us           0  |" + std::string(40, ' ') + "|"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("512ns"), std::string::npos) << t;
}

}  // namespace
}  // namespace perfscope::syscalls
