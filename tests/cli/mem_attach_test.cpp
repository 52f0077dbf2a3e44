// `perfscope mem -p PID` (issue 20): the tracker loaded into a running program through ptrace
// counts exactly what the program allocates after attaching, blocks from before that it frees are
// counted as such, and detaching (Ctrl-C, -d) leaves the program running normally. Refusals name
// their reason.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/files.hpp"
#include "core/unique_fd.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using namespace std::chrono_literals;
using testing::BackgroundProcess;
using testing::perfscope_binary;
using testing::target;
using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ps-heap-attach running in the background, driven through its control pipe.
class Target {
 public:
  // `program` gets the control pipe's path as its last argument.
  explicit Target(const TempDir& dir, std::vector<std::string> program = {target("ps-heap-attach")})
      : control_path_(dir.file("control")), log_(dir.file("target.log")) {
    EXPECT_EQ(::mkfifo(control_path_.c_str(), 0600), 0);
    ::chmod(control_path_.c_str(), 0666);  // for a target running as nobody
    program.push_back(control_path_);
    process_.emplace(program, log_);
    // Close-on-exec: perfscope must not hold the pipe open, or the target never sees its end.
    control_.reset(::open(control_path_.c_str(), O_WRONLY | O_CLOEXEC));
    EXPECT_TRUE(process_->wait_for_log("ready\n", 60s)) << process_->log();
  }
  pid_t pid() const { return process_->pid(); }
  // Sends one command and waits until it has been carried out.
  void command(const std::string& line) {
    const std::string text = line + "\n";
    ASSERT_EQ(::write(control_.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ASSERT_TRUE(process_->wait_for_log("done " + line + "\n", 60s)) << process_->log();
  }
  // Closes the control pipe: the target says "bye" and exits; its exit status.
  int finish() {
    control_.reset();
    return process_->wait(60s);
  }
  std::string log() const { return process_->log(); }

 private:
  std::string control_path_, log_;
  std::optional<BackgroundProcess> process_;
  UniqueFd control_;
};

// "Allocations:      150 calls, 122.1 KiB (125,000 B) requested" -> {150, 125000}.
std::pair<long, long> allocations(const std::string& report) {
  std::smatch m;
  if (!std::regex_search(report, m,
                         std::regex("Allocations: +([0-9,]+) calls?, (?:[0-9.]+ [KMG]iB \\()?"
                                    "([0-9,]+) B\\)? requested"))) {
    return {-1, -1};
  }
  auto number = [](std::string s) {
    s.erase(std::remove(s.begin(), s.end(), ','), s.end());
    return std::stol(s);
  };
  return {number(m[1].str()), number(m[2].str())};
}

std::vector<std::string> mem_attach(const TempDir& dir, pid_t pid,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{perfscope_binary(),
                                "mem",
                                "-p",
                                std::to_string(pid),
                                "--report",
                                dir.file("report.txt"),
                                "-o",
                                dir.file("heap.pb.gz")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(MemAttach, CountsWhatTheProcessAllocatesAfterAttachingExactly) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace));
  TempDir dir;
  Target app(dir);
  BackgroundProcess mem(mem_attach(dir, app.pid()), dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  app.command("alloc 100");   // 100 x 1,000 B, kept
  app.command("thread 50");   // 50 x 500 B on a thread started after attaching, freed
  app.command("free-early");  // 20 blocks from before attaching
  app.command("free 30");
  EXPECT_EQ(app.finish(), 0) << app.log();
  EXPECT_NE(app.log().find("bye\n"), std::string::npos) << app.log();
  ASSERT_EQ(mem.wait(60s), 0) << mem.log();

  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_EQ(allocations(report), std::make_pair(150L, 125'000L)) << report;
  EXPECT_NE(report.find("Frees:            80\n"), std::string::npos) << report;
  EXPECT_NE(report.find("Unmatched frees:  20 (memory this image did not allocate: allocated "
                        "before attaching)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("Not freed at end: 68.4 KiB (70,000 B) in 70 blocks"), std::string::npos)
      << report;
  EXPECT_NE(report.find("(attached to while running): exited"), std::string::npos) << report;
  // The sites, symbolized: the kept blocks and the thread's.
  EXPECT_NE(report.find("attach_site (heap_attach.c"), std::string::npos) << report;
  EXPECT_NE(report.find("thread_site (heap_attach.c"), std::string::npos) << report;
}

// heaptrack -p (the reference: it injects its own tracker through gdb) on the same program and
// commands: the same allocation calls, leaked and temporary allocations.
TEST(MemAttach, AgreesWithHeaptrackAttached) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace), program("heaptrack"), program("gdb"));
  auto drive = [](Target& app) {
    app.command("alloc 100");
    app.command("thread 50");
    app.command("free-early");
    app.command("free 30");
    EXPECT_EQ(app.finish(), 0) << app.log();
  };
  auto stat = [](const std::string& text, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(name + ": *\t*([0-9]+)"))) return -1L;
    return std::stol(m[1].str());
  };
  long theirs[3];
  {
    TempDir dir;
    Target app(dir);
    // heaptrack writes its file into the working directory.
    BackgroundProcess heaptrack({"/bin/sh", "-c",
                                 "cd " + dir.file("") + " && exec " + find_on_path("heaptrack") +
                                     " -p " + std::to_string(app.pid())},
                                dir.file("heaptrack.log"));
    ASSERT_TRUE(heaptrack.wait_for_log("injection finished", 120s)) << heaptrack.log();
    drive(app);
    ASSERT_EQ(heaptrack.wait(120s), 0) << heaptrack.log();
    const std::string log = heaptrack.log();
    theirs[0] = stat(log, "allocations");
    theirs[1] = stat(log, "leaked allocations");
    theirs[2] = stat(log, "temporary allocations");
    ASSERT_GT(theirs[0], 0) << log;
  }
  TempDir dir;
  Target app(dir);
  BackgroundProcess mem(mem_attach(dir, app.pid()), dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  drive(app);
  ASSERT_EQ(mem.wait(60s), 0) << mem.log();
  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_EQ(allocations(report).first, theirs[0]) << report;
  EXPECT_NE(report.find(fmt::format("in {} blocks\n", theirs[1])), std::string::npos)
      << "heaptrack leaked " << theirs[1] << "\n"
      << report;
  EXPECT_NE(report.find(fmt::format("Temporary:        {} allocations", theirs[2])),
            std::string::npos)
      << "heaptrack: " << theirs[2] << " temporary\n"
      << report;
}

TEST(MemAttach, CtrlCDetachesAndTheProcessRunsOnUntracked) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace));
  TempDir dir;
  Target app(dir);
  BackgroundProcess mem(mem_attach(dir, app.pid()), dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  app.command("alloc 10");
  EXPECT_EQ(mem.stop(SIGINT, 60s), 0) << mem.log();
  EXPECT_NE(mem.log().find("detached from pid " + std::to_string(app.pid())), std::string::npos)
      << mem.log();
  // The program goes on, allocating and freeing through the real allocator again.
  app.command("alloc 5");
  app.command("thread 10");
  app.command("free 15");
  EXPECT_EQ(app.finish(), 0) << app.log();

  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_EQ(allocations(report), std::make_pair(10L, 10'000L)) << report;
  EXPECT_NE(report.find("detached from, still running"), std::string::npos) << report;
}

TEST(MemAttach, DurationDetachesOnItsOwn) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace));
  TempDir dir;
  Target app(dir);
  BackgroundProcess mem(mem_attach(dir, app.pid(), {"-d", "0.5"}), dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  app.command("alloc 7");
  ASSERT_EQ(mem.wait(60s), 0) << mem.log();  // -d ends it, whatever the program does
  app.command("alloc 3");
  EXPECT_EQ(app.finish(), 0) << app.log();
  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_EQ(allocations(report), std::make_pair(7L, 7'000L)) << report;
}

// Debian's python3, not built for this: a non-PIE executable that takes malloc's address, so its
// canonical address is a PLT entry (the tracker must not take that for the real malloc). Each
// command keeps a bytearray of 1,000,000 bytes: 1,000,001 B from malloc.
TEST(MemAttach, Python3KeepsRunningAndItsBuffersAreCounted) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace), program("python3"));
  TempDir dir;
  const std::string script = dir.file("keep.py");
  std::ofstream(script) << "import sys\n"
                           "keep = []\n"
                           "print('ready', flush=True)\n"
                           "for line in open(sys.argv[1]):\n"
                           "    keep.append(bytearray(1000000))\n"
                           "    print('done', line.strip(), flush=True)\n"
                           "print('bye', flush=True)\n";
  Target app(dir, {"/usr/bin/python3", script});
  BackgroundProcess mem(mem_attach(dir, app.pid()), dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  for (int i = 0; i < 5; ++i) app.command("keep" + std::to_string(i));
  EXPECT_EQ(app.finish(), 0) << app.log();
  EXPECT_NE(app.log().find("bye\n"), std::string::npos) << app.log();
  ASSERT_EQ(mem.wait(60s), 0) << mem.log();
  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_NE(
      report.find("Heap at peak by allocation site (inuse_space):\n   1. 4.8 MiB (5,000,005 B) "
                  "in 5 blocks"),
      std::string::npos)
      << report;
  EXPECT_NE(report.find("PyByteArray_Resize"), std::string::npos) << report;
}

// Unprivileged: user nobody attaches to a process of its own (same user, no capability needed
// while Yama's ptrace_scope is absent or 0).
TEST(MemAttach, NobodyAttachesToItsOwnProcess) {
  PS_REQUIRE(root(), program("setpriv"));
  const auto scope = read_int_file("/proc/sys/kernel/yama/ptrace_scope");
  if (scope && *scope != 0) {
    GTEST_SKIP() << "needs kernel.yama.ptrace_scope 0 (it is " << *scope
                 << "): at 1 only root may attach to a process it did not start";
  }
  TempDir dir;
  const std::vector<std::string> as_nobody{"/usr/bin/setpriv", "--reuid=65534",
                                           "--regid=65534",    "--clear-groups",
                                           "--inh-caps=-all",  "--bounding-set=-all"};
  std::vector<std::string> program = as_nobody;
  program.push_back(testing::target_for_nobody("ps-heap-attach"));
  Target app(dir, program);
  std::vector<std::string> argv = as_nobody;
  auto mem_argv = mem_attach(dir, app.pid());
  mem_argv.front() = testing::perfscope_binary_for_nobody();
  argv.insert(argv.end(), mem_argv.begin(), mem_argv.end());
  BackgroundProcess mem(argv, dir.file("mem.log"));
  ASSERT_TRUE(mem.wait_for_log("attached to pid", 60s)) << mem.log();
  app.command("alloc 12");
  EXPECT_EQ(app.finish(), 0) << app.log();
  ASSERT_EQ(mem.wait(60s), 0) << mem.log();
  const std::string report = slurp(dir.file("report.txt"));
  EXPECT_EQ(allocations(report), std::make_pair(12L, 12'000L)) << report;
}

TEST(MemAttach, RefusalsNameTheReason) {
  PS_REQUIRE(cap(system::Cap::sys_ptrace));
  TempDir dir;
  // No such process (above any pid_max).
  auto r = testing::run({perfscope_binary(), "mem", "-p", "999999999"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no process 999999999"), std::string::npos) << r.err;
  r = testing::run({perfscope_binary(), "mem", "-p", "12x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is not a process id"), std::string::npos) << r.err;
  r = testing::run({perfscope_binary(), "mem", "-p", "1", "--", "true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;

  // Already traced: this test is its tracer.
  Target app(dir);
  ASSERT_EQ(::ptrace(PTRACE_SEIZE, app.pid(), nullptr, nullptr), 0);
  r = testing::run({perfscope_binary(), "mem", "-p", std::to_string(app.pid())});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is already traced by pid " + std::to_string(::getpid())), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("Segmentation"), std::string::npos);
  // PTRACE_DETACH wants a stopped tracee.
  ASSERT_EQ(::ptrace(PTRACE_INTERRUPT, app.pid(), nullptr, nullptr), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(app.pid(), &status, __WALL), app.pid());
  ASSERT_EQ(::ptrace(PTRACE_DETACH, app.pid(), nullptr, nullptr), 0);
  EXPECT_EQ(app.finish(), 0) << app.log();

  // Another user's process, as nobody.
  const std::string nobody_perfscope = testing::perfscope_binary_for_nobody();
  if (!nobody_perfscope.empty()) {
    testing::RunOptions as_nobody;
    as_nobody.as_nobody = true;
    r = testing::run(
        {nobody_perfscope, "mem", "-p", std::to_string(::getpid()), "-o", dir.file("nobody.pb.gz")},
        as_nobody);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("runs as uid 0, perfscope as uid 65534"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("run perfscope as that user, or as root"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace perfscope
