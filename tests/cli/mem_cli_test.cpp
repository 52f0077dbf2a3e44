// `perfscope mem`: real programs with known allocation behaviour run under the LD_PRELOAD tracker;
// peak, sites, temporaries and leaks must match to the byte, by function name.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/files.hpp"
#include "heap/run_views.hpp"
#include "heap/tracker.hpp"
#include "profile/profile.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// Sample types in the order build_heap_profile writes them.
enum : std::size_t {
  kAllocObjects,
  kAllocSpace,
  kInuseObjects,
  kInuseSpace,
  kLeakedObjects,
  kLeakedSpace,
  kTemporaryObjects,
  kTypes
};

struct HeapSample {
  std::int64_t pid = 0;
  std::vector<std::string> frames;  // leaf (the allocating function) first
  std::vector<std::int64_t> values;
};

std::vector<HeapSample> heap_samples(const profile::Profile& p) {
  std::vector<HeapSample> out;
  for (const auto& s : p.samples()) {
    HeapSample h;
    h.values = s.values;
    for (const auto& l : s.labels) {
      if (p.string(l.key) == "pid") h.pid = l.num;
    }
    for (auto id : s.location_ids) {
      for (const auto& line : p.location(id).lines) {
        h.frames.emplace_back(p.string(p.function(line.function_id).name));
      }
    }
    out.push_back(std::move(h));
  }
  return out;
}

bool starts(const std::string& frame, const std::string& name) {
  return frame == name || frame.rfind(name + "(", 0) == 0 ||
         frame.rfind("(anonymous namespace)::" + name + "(", 0) == 0;
}

// The sum of one value over samples whose leaf is `function` (and of `pid`, when given).
std::int64_t sum_at(const std::vector<HeapSample>& samples, const std::string& function,
                    std::size_t value, std::int64_t pid = 0) {
  std::int64_t total = 0;
  for (const auto& s : samples) {
    if (s.frames.empty() || !starts(s.frames.front(), function)) continue;
    if (pid != 0 && s.pid != pid) continue;
    total += s.values[value];
  }
  return total;
}

bool reaches_main(const std::vector<HeapSample>& samples, const std::string& function) {
  for (const auto& s : samples) {
    if (s.frames.empty() || !starts(s.frames.front(), function)) continue;
    bool main_seen = false;
    for (const auto& f : s.frames) main_seen = main_seen || f == "main";
    if (!main_seen) return false;
  }
  return true;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct MemRun {
  testing::RunResult result;
  std::string report;
  profile::Profile profile;
  std::vector<HeapSample> samples;
};

MemRun mem(const TempDir& dir, const std::vector<std::string>& command,
           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{perfscope_binary(),     "mem",      "-o",
                                dir.file("heap.pb.gz"), "--report", dir.file("heap.txt")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  MemRun r;
  r.result = run(argv);
  r.report = slurp(dir.file("heap.txt"));
  if (std::filesystem::exists(dir.file("heap.pb.gz"))) {
    r.profile = testing::load(dir.file("heap.pb.gz"));
    r.samples = heap_samples(r.profile);
  }
  return r;
}

constexpr std::int64_t kCache = 65536LL * 1024;  // build_cache: 64 MiB in 1 KiB blocks

void expect_known_program(const MemRun& r) {
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  // The program's own output and status are untouched; perfscope's report went to the file.
  EXPECT_EQ(r.result.out, "done 307200\n");
  ASSERT_EQ(r.profile.sample_types.size(), kTypes);
  EXPECT_EQ(r.profile.string(r.profile.default_sample_type), "inuse_space");
  const auto& s = r.samples;
  // At the peak: all of build_cache's 64 MiB and leaky's block; nothing else is live.
  EXPECT_EQ(sum_at(s, "build_cache", kInuseSpace), kCache);
  EXPECT_EQ(sum_at(s, "build_cache", kInuseObjects), 65536);
  EXPECT_EQ(sum_at(s, "leaky", kInuseSpace), 12345);
  EXPECT_EQ(sum_at(s, "parse_input", kInuseSpace), 0);
  std::int64_t inuse = 0;
  for (const auto& x : s) inuse += x.values[kInuseSpace];
  EXPECT_EQ(inuse, kCache + 12345);
  EXPECT_NE(r.report.find("Peak heap:        64.0 MiB (67,121,209 B)"), std::string::npos)
      << r.report;
  // Allocated over the run, and parse_input's 10 MiB freed at once: a temporary allocation.
  EXPECT_EQ(sum_at(s, "build_cache", kAllocSpace), kCache);
  EXPECT_EQ(sum_at(s, "build_cache", kAllocObjects), 65536);
  EXPECT_EQ(sum_at(s, "parse_input", kAllocSpace), 10 * 1024 * 1024);
  EXPECT_EQ(sum_at(s, "parse_input", kTemporaryObjects), 1);
  EXPECT_EQ(sum_at(s, "build_cache", kTemporaryObjects), 0);
  // Never freed: half the cache (still reachable through the global array) and leaky's block
  // (lost: its only pointer was dropped).
  EXPECT_EQ(sum_at(s, "build_cache", kLeakedSpace), kCache / 2);
  EXPECT_EQ(sum_at(s, "build_cache", kLeakedObjects), 32768);
  EXPECT_EQ(sum_at(s, "leaky", kLeakedSpace), 12345);
  EXPECT_NE(r.report.find("definitely lost: 12.1 KiB (12,345 B) in 1 block\n"), std::string::npos)
      << r.report;
  EXPECT_NE(r.report.find("Leaks: never freed and unreachable (definitely lost):\n"
                          "   1. 12.1 KiB (12,345 B) in 1 block (100.0%)\n      leaky"),
            std::string::npos)
      << r.report;
  EXPECT_NE(r.report.find("Never freed but still reachable at exit:\n"
                          "   1. 32.0 MiB (33,554,432 B) in 32,768 blocks"),
            std::string::npos)
      << r.report;
  for (const char* f : {"build_cache", "leaky", "parse_input"}) {
    EXPECT_TRUE(reaches_main(s, f)) << f;
  }
}

TEST(MemCli, KnownProgramMatchesToTheByteWithFramePointers) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known")});
  EXPECT_NE(r.report.find("stacks: auto: "), std::string::npos);
  EXPECT_NE(r.report.find("keeps frame pointers"), std::string::npos) << r.report;
  expect_known_program(r);
  // The ASCII timeline of the heap, peak marked.
  EXPECT_NE(r.report.find("peak: 64.0 MiB at"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find('@'), std::string::npos);
}

TEST(MemCli, KnownProgramMatchesToTheByteWithDwarfStacks) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known-nofp")});
  EXPECT_NE(r.report.find("lacks frame pointers"), std::string::npos) << r.report;
  expect_known_program(r);
}

TEST(MemCli, FourThreadsOfAMillionAllocationsEachAddUp) {
  TempDir dir;
  // Frame pointers asked for: this test counts; which unwinder auto picks is tested above (and
  // DWARF stacks would make 4 million allocations take ten times as long).
  const auto r = mem(dir, {target("ps-heap-cases"), "threads", "1000000"}, {"--unwind", "fp"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  EXPECT_EQ(r.result.out, "threads done 40\n");
  EXPECT_EQ(sum_at(r.samples, "thread_work", kAllocObjects), 4'000'000);
  // Sizes cycle through 16, 32, ..., 1024 bytes: 15,625 rounds of 64 per thread.
  EXPECT_EQ(sum_at(r.samples, "thread_work", kAllocSpace), 4LL * 15625 * (64 * 16 + 16 * 2016));
  // Everything thread_work allocated was freed (the last 10 per thread by main).
  EXPECT_EQ(sum_at(r.samples, "thread_work", kLeakedObjects), 0);
  EXPECT_EQ(r.report.find("Unmatched frees"), std::string::npos) << r.report;
}

TEST(MemCli, ReallocChainsCountEveryStep) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-cases"), "realloc"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  // malloc(16), then 16 reallocs doubling from 32 B to 1 MiB.
  EXPECT_EQ(sum_at(r.samples, "grow_buffer", kAllocObjects), 17);
  EXPECT_EQ(sum_at(r.samples, "grow_buffer", kAllocSpace), 16 + (2 * 1024 * 1024 - 32));
  EXPECT_EQ(sum_at(r.samples, "grow_buffer", kLeakedObjects), 0);
  EXPECT_EQ(sum_at(r.samples, "grow_buffer", kInuseSpace), 1024 * 1024);
}

TEST(MemCli, EveryAlignedAllocatorAndOperatorNewIsTracked) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-cases"), "aligned"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  const std::map<std::string, std::int64_t> expected{
      {"use_posix_memalign", 4096}, {"use_aligned_alloc", 8192}, {"use_memalign", 3000},
      {"use_valloc", 5000},         {"use_pvalloc", 100},        {"use_aligned_new", 512},
      {"use_new_array", 700}};
  for (const auto& [function, bytes] : expected) {
    EXPECT_EQ(sum_at(r.samples, function, kAllocSpace), bytes) << function;
    EXPECT_EQ(sum_at(r.samples, function, kAllocObjects), 1) << function;
    EXPECT_EQ(sum_at(r.samples, function, kLeakedObjects), 0) << function;
  }
}

TEST(MemCli, AllocationsBeforeMainAndInExitHandlersAreSeen) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-cases"), "lifetime"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  EXPECT_EQ(sum_at(r.samples, "static_init", kLeakedSpace), 4242);
  EXPECT_EQ(sum_at(r.samples, "at_exit_work", kLeakedSpace), 2424);
  // The static constructor ran before main, from the C runtime's init.
  EXPECT_FALSE(reaches_main(r.samples, "static_init"));
  // (at_exit_work's callers are libc's exit path: without frame pointers there, how far the
  // frame-pointer walk gets past it is luck, so it is not checked.)
}

TEST(MemCli, ForkChildrenAreSeparateProcesses) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known"), "fork"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  std::int64_t parent = 0, child = 0;
  for (const auto& s : r.samples) {
    if (!s.frames.empty() && starts(s.frames.front(), "parent_work")) parent = s.pid;
    if (!s.frames.empty() && starts(s.frames.front(), "child_work")) child = s.pid;
  }
  ASSERT_NE(parent, 0);
  ASSERT_NE(child, 0);
  EXPECT_NE(parent, child);
  EXPECT_EQ(sum_at(r.samples, "parent_work", kAllocSpace, parent), 100000);
  EXPECT_EQ(sum_at(r.samples, "child_work", kAllocSpace, child), 200000);
  EXPECT_EQ(sum_at(r.samples, "child_work", kLeakedSpace, child), 150000);
  EXPECT_EQ(sum_at(r.samples, "child_work", kAllocSpace, parent), 0);
  EXPECT_NE(r.report.find("fork child of pid " + std::to_string(parent)), std::string::npos)
      << r.report;
}

// A vfork child shares the parent's memory, the preload's state included: its _exit must not end
// the parent's tracking.
TEST(MemCli, AVforkChildsExitLeavesTheParentTracked) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known"), "vfork"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  EXPECT_EQ(sum_at(r.samples, "parent_work", kAllocSpace), 100000);
  EXPECT_EQ(sum_at(r.samples, "child_work", kAllocSpace), 200000) << r.report;
}

TEST(MemCli, AProgramItExecsIsFollowedAsANewImage) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known"), "exec"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  EXPECT_EQ(sum_at(r.samples, "child_work", kAllocSpace), 200000);
  EXPECT_NE(r.report.find("replaced itself with exec"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("a program exec'd by the process before it"), std::string::npos);
}

TEST(MemCli, ACrashStillGivesTheReportUpToTheCrash) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known"), "crash"});
  EXPECT_EQ(r.result.exit_code, 128 + 11);  // the command's status, passed on
  EXPECT_EQ(sum_at(r.samples, "build_cache", kAllocObjects), 65536);
  EXPECT_EQ(sum_at(r.samples, "build_cache", kLeakedSpace), kCache);
  EXPECT_NE(r.report.find("died of signal 11"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("reachability not checked: the process died of signal 11"),
            std::string::npos);
}

TEST(MemCli, QuickExitKeepsItsStatusAndEverythingBeforeIt) {
  TempDir dir;
  const auto r = mem(dir, {target("ps-heap-known"), "quick"});
  EXPECT_EQ(r.result.exit_code, 3);
  EXPECT_EQ(sum_at(r.samples, "build_cache", kLeakedSpace), kCache);
  EXPECT_NE(r.report.find("called _exit(3)"), std::string::npos) << r.report;
}

TEST(MemCli, TimelineFlameGraphAndTheProfileForOtherCommands) {
  TempDir dir;
  const auto r =
      mem(dir, {target("ps-heap-known")},
          {"--timeline", dir.file("timeline.svg"), "--flamegraph", dir.file("peak.svg")});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  const auto timeline = slurp(dir.file("timeline.svg"));
  EXPECT_EQ(timeline.rfind("<svg", 0), 0u);
  EXPECT_NE(timeline.find("peak 64.0 MiB"), std::string::npos);
  const auto peak = slurp(dir.file("peak.svg"));
  EXPECT_NE(peak.find("build_cache"), std::string::npos);
  EXPECT_EQ(peak.find("parse_input"), std::string::npos) << "nothing of it is live at the peak";
  // The saved profile works with report and flamegraph, by sample type.
  const auto by_alloc = run({perfscope_binary(), "report", "-i", dir.file("heap.pb.gz"),
                             "--sample-type", "alloc_space", "--top", "3"});
  ASSERT_EQ(by_alloc.exit_code, 0) << by_alloc.err;
  EXPECT_NE(by_alloc.out.find("parse_input"), std::string::npos) << by_alloc.out;
  const auto flame = run({perfscope_binary(), "flamegraph", "-i", dir.file("heap.pb.gz"),
                          "--sample-type", "alloc_space", "-o", dir.file("alloc.svg")});
  ASSERT_EQ(flame.exit_code, 0) << flame.err;
  EXPECT_NE(slurp(dir.file("alloc.svg")).find("parse_input"), std::string::npos);
}

TEST(MemCli, BadInputGetsOneMessageAndNoFile) {
  TempDir dir;
  const std::vector<std::vector<std::string>> cases{
      {"mem", "-o", dir.file("h.pb.gz")},
      {"mem", "-o", dir.file("h.pb.gz"), "-p", "1"},
      {"mem", "-o", dir.file("h.pb.gz"), "--unwind", "lbr", "--", target("ps-heap-known")},
      {"mem", "-o", dir.file("h.pb.gz"), "--flamegraph-type", "rss", "--", target("ps-heap-known")},
      {"mem", "-o", dir.file("missing/h.pb.gz"), "--", target("ps-heap-known")},
      {"mem", "-o", dir.file("h.pb.gz"), "--", dir.file("no-such-program")},
  };
  for (const auto& args : cases) {
    std::vector<std::string> argv{perfscope_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run(argv);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    EXPECT_NE(r.exit_code, 0) << shown;
    EXPECT_EQ(r.err.rfind("perfscope mem: ", 0), 0u) << shown << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("h.pb.gz"))) << shown;
    EXPECT_EQ(r.out, "") << shown;
  }
}

// --- heap::Tracker as a library, without the CLI ----------------------------------------------

std::string preload_library() {
  return std::filesystem::path(perfscope_binary()).parent_path().string() + "/libperfscope-heap.so";
}

// Everything of this process a run must leave as it was: the environment, the signal actions
// `mem` used to change, and the open descriptors.
struct ProcessState {
  std::vector<std::string> environment;
  std::vector<sighandler_t> actions;
  std::size_t descriptors = 0;

  static ProcessState now() {
    ProcessState st;
    for (char** e = environ; *e != nullptr; ++e) st.environment.emplace_back(*e);
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE}) {
      struct sigaction old {};
      ::sigaction(sig, nullptr, &old);
      st.actions.push_back(old.sa_handler);
    }
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
      ++st.descriptors;
    return st;
  }
  bool operator==(const ProcessState&) const = default;
};

// Standard output sent to a file while it lives: the command forked at Tracker::open inherits it.
class StdoutTo {
 public:
  explicit StdoutTo(const std::string& path) : saved_(::dup(1)) {
    const int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(out, 1);
    ::close(out);
  }
  ~StdoutTo() {
    ::dup2(saved_, 1);
    ::close(saved_);
  }
  StdoutTo(const StdoutTo&) = delete;
  StdoutTo& operator=(const StdoutTo&) = delete;

 private:
  int saved_;
};

MemRun mem_run_of(const heap::TrackResult& run, const std::string& out_path) {
  MemRun r;
  r.result.exit_code = run.command_status;
  r.result.out = slurp(out_path);
  r.report = heap::run_report_text(run);
  r.profile = run.profile;
  r.samples = heap_samples(r.profile);
  return r;
}

TEST(HeapTracker, RunsTheKnownProgramInProcessAndLeavesOurProcessAsItWas) {
  TempDir dir;
  const ProcessState before = ProcessState::now();
  auto run = [&]() -> Result<heap::TrackResult> {
    StdoutTo out(dir.file("out.txt"));
    auto tracker = heap::Tracker::open(
        {.command = {target("ps-heap-known")}, .preload_library = preload_library()});
    if (!tracker) return tracker.error();
    EXPECT_NE(tracker->stacks().find("keeps frame pointers"), std::string::npos);
    return tracker->run();
  }();
  ASSERT_TRUE(run) << run.error().message();
  EXPECT_EQ(ProcessState::now(), before) << "the environment, signal actions or fds changed";
  EXPECT_EQ(run->stop_signal, 0);
  EXPECT_TRUE(run->notes.empty());
  ASSERT_FALSE(run->images.empty());
  EXPECT_EQ(run->images.front().origin, heap::ImageOrigin::command);
  EXPECT_EQ(run->images.front().peak_bytes, 67'121'209u);
  expect_known_program(mem_run_of(*run, dir.file("out.txt")));
}

// A stop request reaches the command as the same signal; what it did until then is all there.
TEST(HeapTracker, AStopRequestIsPassedOnAndTheRunStillReturns) {
  TempDir dir;
  std::optional<StdoutTo> out(dir.file("out.txt"));
  auto tracker = heap::Tracker::open({.command = {target("ps-heap-cases"), "wait"},
                                      .unwind = heap::Unwind::frame_pointers,
                                      .preload_library = preload_library()});
  ASSERT_TRUE(tracker) << tracker.error().message();
  int request[2];
  ASSERT_EQ(::pipe2(request, O_CLOEXEC | O_NONBLOCK), 0);
  const process::StopSource stop{request[0], [&request] {
                                   char byte;
                                   return ::read(request[0], &byte, 1) == 1 ? SIGTERM : 0;
                                 }};
  std::optional<Result<heap::TrackResult>> run;
  std::thread runner([&] { run = tracker->run(stop); });
  // The command says when its allocations are sent and it waits.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (slurp(dir.file("out.txt")).find("waiting pid") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(::write(request[1], "x", 1), 1);
  runner.join();
  out.reset();
  ::close(request[0]);
  ::close(request[1]);
  ASSERT_TRUE(*run) << run->error().message();
  const heap::TrackResult& r = **run;
  EXPECT_EQ(r.stop_signal, SIGTERM);
  EXPECT_EQ(r.command_status, 128 + SIGTERM);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes.front().find("stopped by SIGTERM"), std::string::npos) << r.notes.front();
  const auto samples = heap_samples(r.profile);
  EXPECT_EQ(sum_at(samples, "hold_blocks", kAllocObjects), 100);
  EXPECT_EQ(sum_at(samples, "hold_blocks", kAllocSpace), 100'000);
  EXPECT_EQ(sum_at(samples, "hold_blocks", kLeakedSpace), 100'000);
  EXPECT_FALSE(process_running(tracker->pid()));
}

// --- signals to perfscope ------------------------------------------------------------------------

std::vector<std::string> leftovers(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  return names;
}

// `mem -- ps-heap-cases wait` in the background, once the command waits: perfscope and the
// command's pid.
struct WaitingRun {
  std::unique_ptr<testing::BackgroundProcess> perfscope;
  long command_pid = 0;
};

WaitingRun start_waiting_run(const TempDir& dir) {
  WaitingRun w;
  w.perfscope = std::make_unique<testing::BackgroundProcess>(
      std::vector<std::string>{perfscope_binary(), "mem", "-o", dir.file("heap.pb.gz"), "--report",
                               dir.file("heap.txt"), "--timeline", dir.file("timeline.svg"), "--",
                               target("ps-heap-cases"), "wait"},
      dir.file("log.txt"));
  if (!w.perfscope->wait_for_log("waiting pid", std::chrono::seconds(30))) return w;
  const std::string log = w.perfscope->log();
  w.command_pid = std::atol(log.c_str() + log.find("waiting pid") + 12);
  return w;
}

bool ignored(int sig) {
  struct sigaction old {};
  ::sigaction(sig, nullptr, &old);
  return old.sa_handler == SIG_IGN;
}

// SIGTERM, SIGHUP or SIGINT sent to perfscope alone (not from a terminal: the command does not
// get it too) is passed on; the report is still written, and perfscope exits 128 + N.
TEST(MemCli, ASignalToPerfscopeIsPassedOnAndTheReportIsWritten) {
  for (const int sig : {SIGTERM, SIGHUP, SIGINT}) {
    SCOPED_TRACE(strsignal(sig));
    // A runner that ignores SIGINT hands that on to perfscope, which then never sees it.
    if (ignored(sig)) continue;
    TempDir dir;
    WaitingRun w = start_waiting_run(dir);
    ASSERT_NE(w.command_pid, 0) << w.perfscope->log();
    EXPECT_EQ(leftovers(dir), std::vector<std::string>{}) << "nothing is written before the end";
    EXPECT_EQ(w.perfscope->stop(sig), 128 + sig) << w.perfscope->log();
    EXPECT_FALSE(process_running(w.command_pid));
    EXPECT_EQ(leftovers(dir), std::vector<std::string>{});
    const std::string report = slurp(dir.file("heap.txt"));
    EXPECT_NE(report.find("Peak heap:        97.7 KiB (100,000 B)"), std::string::npos) << report;
    const auto samples = heap_samples(testing::load(dir.file("heap.pb.gz")));
    EXPECT_EQ(sum_at(samples, "hold_blocks", kAllocSpace), 100'000);
    EXPECT_EQ(slurp(dir.file("timeline.svg")).rfind("<svg", 0), 0u);
    EXPECT_NE(
        w.perfscope->log().find(std::string("perfscope mem: stopped by SIG") + sigabbrev_np(sig)),
        std::string::npos)
        << w.perfscope->log();
  }
}

// A perfscope killed outright cannot pass anything on: the command dies with it (it asked the
// kernel for that), and no temporary file is left, since none was made yet.
TEST(MemCli, SigkillOfPerfscopeLeavesNoCommandRunningAndNoFile) {
  TempDir dir;
  WaitingRun w = start_waiting_run(dir);
  ASSERT_NE(w.command_pid, 0) << w.perfscope->log();
  EXPECT_EQ(w.perfscope->stop(SIGKILL), 128 + SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (process_running(w.command_pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(process_running(w.command_pid));
  EXPECT_EQ(leftovers(dir), std::vector<std::string>{});
  EXPECT_FALSE(std::filesystem::exists(dir.file("heap.pb.gz")));
}

// Runs ps-heap-known traced into `fds[1]` whose reading end `fds[0]` is already closed, as a
// program perfscope started and then left behind: it must go on untraced and exit 0.
void expect_outlives_its_reader(int fds[2]) {
  ::close(fds[0]);
  struct stat st {};
  ASSERT_EQ(::fstat(fds[1], &st), 0);
  const std::string lib =
      std::filesystem::path(perfscope_binary()).parent_path().string() + "/libperfscope-heap.so";
  const std::string fd_spec = std::to_string(fds[1]) + ":" + std::to_string(st.st_ino);
  const std::string program = target("ps-heap-known");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("LD_PRELOAD", lib.c_str(), 1);
    ::setenv("PERFSCOPE_HEAP_FD", fd_spec.c_str(), 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::execl(program.c_str(), program.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// A program that outlives perfscope (a daemon it started, after perfscope's one second of grace)
// writes to a pipe nobody reads (mem -p's FIFO): it must go on untraced, not die of SIGPIPE.
TEST(MemCli, AProgramOutlivingPerfscopeIsNotKilledBySigpipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  expect_outlives_its_reader(fds);
}

// The same over the unix socket a started command writes to (send with MSG_NOSIGNAL).
TEST(MemCli, AProgramOutlivingPerfscopeOnTheSocketIsNotKilled) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  expect_outlives_its_reader(fds);
}

TEST(MemCli, WorksAsNobodyOnItsOwnCommand) {
  if (auto why = testing::unmet({testing::root()}); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  testing::RunOptions as_nobody;
  as_nobody.as_nobody = true;
  const auto r =
      run({testing::perfscope_binary_for_nobody(), "mem", "-o", dir.file("heap.pb.gz"), "--report",
           dir.file("heap.txt"), "--", testing::target_for_nobody("ps-heap-known")},
          as_nobody);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = slurp(dir.file("heap.txt"));
  EXPECT_NE(report.find("Peak heap:        64.0 MiB (67,121,209 B)"), std::string::npos) << report;
  EXPECT_NE(report.find("definitely lost: 12.1 KiB (12,345 B) in 1 block"), std::string::npos)
      << report;
}

}  // namespace
}  // namespace perfscope
