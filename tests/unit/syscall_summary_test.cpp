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

// What to_json writes, from_json reads back: every row, count, time, errno and histogram bucket.
TEST(SyscallSummaryJson, RoundTripKeepsEveryField) {
  for (GroupBy by : {GroupBy::syscall, GroupBy::process, GroupBy::thread}) {
    SCOPED_TRACE(group_by_name(by));
    Summary s;
    s.by = by;
    s.backend = "bpf";
    s.cpu_time = by != GroupBy::thread;
    s.lost = 3;
    s.unfinished = 1;
    s.elapsed_s = 1.25;
    const std::uint32_t pid = by == GroupBy::syscall ? 0 : 42;
    const std::uint32_t tid = by == GroupBy::thread ? 43 : 0;
    const std::string comm = by == GroupBy::syscall ? "" : "app";
    RowStats& openat = s.rows[{pid, tid, 257, comm}];
    for (int i = 0; i < 5; ++i) openat.add_call(1500 + 1000 * i, 700, i % 2 == 0, 2);
    openat.add_call(-1, -1, true, 512);  // untimed, and a kernel-internal errno
    openat.errnos[4000] = 1;             // a number without a name ("E4000")
    ++openat.errors;
    RowStats& write = s.rows[{pid, tid, 1, comm}];
    write.add_call(1ULL << 45, 1ULL << 44, false, 0);  // the last, open-ended bucket
    const std::string text = to_json(s, {.wall = false, .histogram = true});
    auto back = from_json(text);
    ASSERT_TRUE(back) << back.error().describe();
    EXPECT_EQ(back->by, s.by);
    EXPECT_EQ(back->backend, "bpf");
    EXPECT_EQ(back->cpu_time, s.cpu_time);
    EXPECT_EQ(back->lost, 3U);
    EXPECT_EQ(back->unfinished, 1U);
    EXPECT_DOUBLE_EQ(back->elapsed_s, 1.25);
    ASSERT_EQ(back->rows.size(), s.rows.size());
    for (const auto& [key, want] : s.rows) {
      ASSERT_TRUE(back->rows.contains(key)) << key.nr;
      const RowStats& got = back->rows.at(key);
      EXPECT_EQ(got.calls, want.calls);
      EXPECT_EQ(got.errors, want.errors);
      EXPECT_EQ(got.wall_ns, want.wall_ns);
      EXPECT_EQ(got.cpu_ns, s.cpu_time ? want.cpu_ns : 0U);
      EXPECT_EQ(got.min_ns, want.min_ns);
      EXPECT_EQ(got.max_ns, want.max_ns);
      EXPECT_EQ(got.timed, want.timed);
      EXPECT_EQ(got.histogram, want.histogram);
      EXPECT_EQ(got.errnos, want.errnos);
    }
    // The same JSON again from what was read.
    EXPECT_EQ(to_json(*back, {.wall = false, .histogram = true}), text);
  }
}

TEST(SyscallSummaryJson, RowsAreSortedAsTheTableWithTheChosenTime) {
  const Summary s = two_rows();
  const std::string cpu = to_json(s, {});
  EXPECT_LT(cpu.find("\"syscall\": \"write\""), cpu.find("\"syscall\": \"openat\"")) << cpu;
  EXPECT_NE(cpu.find("\"time\": \"cpu\""), std::string::npos) << cpu;
  EXPECT_EQ(cpu.find("histogram"), std::string::npos) << cpu;
  const std::string wall = to_json(s, {.wall = true, .histogram = false});
  EXPECT_LT(wall.find("\"syscall\": \"openat\""), wall.find("\"syscall\": \"write\"")) << wall;
  EXPECT_NE(wall.find("\"time\": \"wall\""), std::string::npos) << wall;
}

TEST(SyscallSummaryJson, BadInputIsAnErrorNotAnException) {
  for (const char* text : {"", "[]", "{}", R"({"by": "file"})",
                           R"({"by": "syscall", "backend": "bpf", "cpu_time": true,
                               "elapsed_seconds": 1, "lost": 0, "unfinished": 0,
                               "rows": [{"nr": "x"}]})"}) {
    auto s = from_json(text);
    EXPECT_FALSE(s) << text;
    if (!s) {
      EXPECT_NE(s.error().op.find("read a syscall summary"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace perfscope::syscalls
