// ProcessTable and StackAggregator on synthetic records: address spaces across fork and exec,
// mmap overlap rules, seeding from a fake /proc, and aggregation of identical stacks.
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sampling/collector.hpp"
#include "sampling/process_table.hpp"
#include "sampling/stack_aggregator.hpp"

namespace perfscope::sampling {
namespace {

MmapRecord mmap_of(std::uint32_t pid, std::uint64_t addr, std::uint64_t len, std::uint64_t pgoff,
                   std::string_view file, std::uint64_t time, std::uint32_t prot = 5) {
  MmapRecord m;
  m.pid = m.tid = pid;
  m.addr = addr;
  m.len = len;
  m.pgoff = pgoff;
  m.filename = file;
  m.prot = prot;
  m.executable = (prot & 4) != 0;
  m.id.time = time;
  return m;
}

TEST(ProcessTable, MmapReplacesWhatItOverlapsAndKeepsTheRest) {
  AddressSpace s;
  s.insert({0x1000, 0x5000, 0, "/a", "", false});
  s.insert({0x2000, 0x3000, 0x10000, "/b", "", false});  // punches a hole in the middle of /a
  ASSERT_EQ(s.mappings.size(), 3u);
  EXPECT_EQ(s.find(0x1800)->path, "/a");
  EXPECT_EQ(s.find(0x2800)->path, "/b");
  const Mapping* right = s.find(0x3800);
  ASSERT_NE(right, nullptr);
  EXPECT_EQ(right->path, "/a");
  EXPECT_EQ(right->pgoff, 0x2000u) << "the right part keeps its file offset";
  EXPECT_EQ(s.find(0x5000), nullptr) << "end is exclusive";
  EXPECT_EQ(s.find(0x0fff), nullptr);
}

TEST(ProcessTable, ExecStartsANewAddressSpaceAndOldSamplesKeepTheirs) {
  ProcessTable t;
  t.on_mmap(mmap_of(10, 0x400000, 0x1000, 0, "/bin/sh", 100));
  CommRecord exec;
  exec.pid = exec.tid = 10;
  exec.comm = "ps-burn";
  exec.exec = true;
  exec.id.time = 200;
  t.on_comm(exec);
  t.on_mmap(mmap_of(10, 0x400000, 0x1000, 0, "/usr/bin/ps-burn", 210));

  const auto before = t.space_of(10, 150);
  const auto after = t.space_of(10, 300);
  EXPECT_NE(before, after);
  EXPECT_EQ(t.space(before).find(0x400100)->path, "/bin/sh");
  EXPECT_EQ(t.space(after).find(0x400100)->path, "/usr/bin/ps-burn");
  EXPECT_EQ(t.space(after).comm, "ps-burn");
  EXPECT_EQ(t.thread_comm(10, after), "ps-burn");
}

TEST(ProcessTable, ForkCopiesTheParentAndThreadsShareIt) {
  ProcessTable t;
  t.on_mmap(mmap_of(10, 0x400000, 0x1000, 0, "/bin/parent", 100));
  TaskRecord fork;
  fork.pid = fork.tid = 11;
  fork.ppid = fork.ptid = 10;
  fork.time = 150;
  t.on_fork(fork);
  TaskRecord thread;
  thread.pid = 10;
  thread.tid = 12;
  thread.ppid = 10;
  thread.ptid = 10;
  thread.time = 160;
  t.on_fork(thread);
  t.on_mmap(mmap_of(10, 0x500000, 0x1000, 0, "/lib/late.so", 170));

  const auto child = t.space_of(11, 200);
  EXPECT_EQ(t.space(child).find(0x400100)->path, "/bin/parent");
  EXPECT_EQ(t.space(child).find(0x500100), nullptr)
      << "a later mmap in the parent is not the child's";
  EXPECT_EQ(t.space(t.space_of(10, 200)).find(0x500100)->path, "/lib/late.so");

  TaskRecord exit = fork;
  t.on_exit(exit);
  EXPECT_TRUE(t.exited(11));
  EXPECT_FALSE(t.exited(10));
  EXPECT_EQ(t.space(t.space_of(11, 300)).find(0x400100)->path, "/bin/parent")
      << "an exited process keeps its mappings";
}

// perf record -g of pyenv's python3 shim (a bash script that execs bash, pyenv, ... python3): the
// perf.data held the last exec's COMM (python3) before two earlier ones (pyenv-exec, bash), in the
// order its CPUs' buffers were written. The threads python3 then started were named "bash", the
// main thread's last COMM read, where perf report names them python3.
TEST(ProcessTable, ThreadNamesFollowTheRecordsTimesNotTheirOrder) {
  ProcessTable t;
  auto exec = [&](std::string_view comm, std::uint64_t time) {
    CommRecord c;
    c.pid = c.tid = 10;
    c.comm = comm;
    c.exec = true;
    c.id.time = time;
    t.on_comm(c);
  };
  exec("python3", 100);
  exec("python3", 400);  // written before the two execs that came first
  exec("pyenv-exec", 200);
  exec("bash", 300);
  // A thread of process 10 naming itself, and process 10's thread `parent` starting thread `tid`.
  auto rename = [&](std::uint32_t tid, std::string_view comm, std::uint64_t time) {
    CommRecord c;
    c.pid = 10;
    c.tid = tid;
    c.comm = comm;
    c.id.time = time;
    t.on_comm(c);
  };
  auto start = [&](std::uint32_t tid, std::uint32_t parent, std::uint64_t time) {
    TaskRecord f;
    f.pid = f.ppid = 10;
    f.ptid = parent;
    f.tid = tid;
    f.time = time;
    t.on_fork(f);
  };
  start(12, 10, 500);

  const auto now = t.space_of(10, 600);
  EXPECT_EQ(t.thread_comm(12, now), "python3");
  EXPECT_EQ(t.thread_comm(10, now), "python3");
  EXPECT_EQ(t.thread_comm(10, t.space_of(10, 350)), "bash");

  // A thread another thread starts takes that thread's own name.
  rename(12, "worker", 510);
  start(13, 12, 520);
  EXPECT_EQ(t.thread_comm(13, now), "worker");

  // perf record of python3 threads that name themselves (prctl PR_SET_NAME) as they start: each
  // thread's COMM was in the perf.data before the FORK that created it. perf report names them
  // worker-0; the FORK read after it named it python3 again.
  rename(14, "worker-0", 710);
  start(14, 10, 700);
  EXPECT_EQ(t.thread_comm(14, t.space_of(10, 800)), "worker-0");

  // A thread that renames itself twice, its records read newest first: the newer name stays.
  rename(14, "stage-2", 760);
  rename(14, "stage-1", 750);
  EXPECT_EQ(t.thread_comm(14, t.space_of(10, 800)), "stage-2");

  // A tid used again: the old thread's name is older than the FORK, which names the new one.
  start(13, 10, 900);
  EXPECT_EQ(t.thread_comm(13, t.space_of(10, 1000)), "python3");
}

TEST(ProcessTable, DataMappingsAreIgnoredAndBuildIdsKept) {
  ProcessTable t;
  t.on_mmap(mmap_of(10, 0x600000, 0x1000, 0, "/tmp/data", 100, /*prot=*/3));
  EXPECT_EQ(t.space(t.space_of(10, 200)).find(0x600100), nullptr);
  auto m = mmap_of(10, 0x700000, 0x1000, 0, "/lib/x.so", 100);
  const std::uint8_t id[] = {0xab, 0x01, 0xff};
  m.build_id = id;
  t.on_mmap(m);
  EXPECT_EQ(t.space(t.space_of(10, 200)).find(0x700000)->build_id, "ab01ff");
}

TEST(ProcessTable, SeedsFromProc) {
  const auto root =
      std::filesystem::temp_directory_path() / ("ps-proc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "42" / "task" / "42");
  std::filesystem::create_directories(root / "42" / "task" / "43");
  std::ofstream(root / "42" / "comm") << "server\n";
  std::ofstream(root / "42" / "task" / "42" / "comm") << "server\n";
  std::ofstream(root / "42" / "task" / "43" / "comm") << "worker-1\n";
  std::ofstream(root / "42" / "maps")
      << "55d0c0000000-55d0c0001000 r--p 00000000 08:01 100 /usr/bin/server\n"
         "55d0c0001000-55d0c0005000 r-xp 00001000 08:01 100 /usr/bin/server\n"
         "7ffd0a000000-7ffd0a002000 r-xp 00000000 00:00 0 [vdso]\n"
         "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n"
         "garbage line\n";
  ProcessTable t;
  t.seed_from_proc(42, root.string());
  const auto s = t.space_of(42, 5);
  EXPECT_EQ(t.space(s).comm, "server");
  ASSERT_EQ(t.space(s).mappings.size(), 3u) << "executable mappings only";
  EXPECT_EQ(t.space(s).find(0x55d0c0002000)->pgoff, 0x1000u);
  EXPECT_EQ(t.space(s).find(0x7ffd0a000100)->path, "[vdso]");
  EXPECT_EQ(t.space(s).find(0x7f0000000100)->path, "//anon");
  EXPECT_EQ(t.thread_comm(43, s), "worker-1");
  EXPECT_EQ(t.thread_comm(0, s), "swapper");
  std::filesystem::remove_all(root);
}

TEST(StackAggregator, IdenticalStacksCountOnceAndKeysSeparate) {
  StackAggregator agg;
  const std::vector<std::uint64_t> a{1, 2, 3}, b{1, 2, 4}, prefix{1, 2};
  for (int i = 0; i < 1000; ++i) agg.add({1, 1, 0, 0}, a, 1, 10);
  agg.add({1, 1, 0, 0}, b, 1, 10);
  agg.add({1, 1, 0, 0}, prefix, 1, 10);
  agg.add({1, 2, 0, 0}, a, 1, 10);  // another thread
  agg.add({1, 1, 1, 0}, a, 1, 10);  // another CPU
  agg.add({1, 1, 0, 0}, {}, 1, 10);
  EXPECT_EQ(agg.total_samples(), 1005u);
  ASSERT_EQ(agg.entries().size(), 6u);
  const auto& first = agg.entries()[0];
  EXPECT_EQ(first.count, 1000u);
  EXPECT_EQ(first.period, 10000u);
  EXPECT_EQ(std::vector<std::uint64_t>(agg.stack(first).begin(), agg.stack(first).end()), a);
}

TEST(StackAggregator, SurvivesGrowthWithManyDistinctStacks) {
  StackAggregator agg;
  for (std::uint64_t i = 0; i < 50000; ++i) {
    const std::vector<std::uint64_t> s{i, i * 7, i * 13};
    agg.add({1, 1, 0, 0}, s, 1, 1);
    agg.add({1, 1, 0, 0}, s, 2, 1);
  }
  ASSERT_EQ(agg.entries().size(), 50000u);
  for (const auto& e : agg.entries()) ASSERT_EQ(e.count, 3u);
}

TEST(Collector, SampleReadBeforeTheExecFromAnotherCpuStillGetsTheNewProgram) {
  Collector c;
  const std::uint64_t chain[] = {static_cast<std::uint64_t>(PERF_CONTEXT_USER), 0x400100};
  Sample s;
  s.id.pid = s.id.tid = 10;
  s.id.cpu = 1;
  s.id.time = 250;
  s.callchain = chain;
  c.on_sample(s);  // CPU 1's ring was read first...
  CommRecord exec;
  exec.pid = exec.tid = 10;
  exec.comm = "ps-burn";
  exec.exec = true;
  exec.id.time = 200;
  c.on_comm(exec);  // ...then CPU 0's, holding the earlier exec
  c.on_mmap(mmap_of(10, 0x400000, 0x1000, 0, "/usr/bin/ps-burn", 210));
  c.on_pass_end(240);
  EXPECT_TRUE(c.stacks().entries().empty()) << "a sample newer than the pass waits";
  c.on_pass_end(300);
  ASSERT_EQ(c.stacks().entries().size(), 1u);
  const auto& space = c.processes().space(c.stacks().entries()[0].key.space);
  EXPECT_EQ(space.comm, "ps-burn");
  ASSERT_NE(space.find(0x400100), nullptr);
  EXPECT_EQ(space.find(0x400100)->path, "/usr/bin/ps-burn");
  EXPECT_EQ(c.samples(), 1u);
}

}  // namespace
}  // namespace perfscope::sampling
