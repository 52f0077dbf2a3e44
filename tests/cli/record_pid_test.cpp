// `perfscope record -p` on multi-threaded processes, for every backend: each thread of the target
// gets an event on every CPU, all writing into one ring per CPU (issue 17: the redirect used to
// come before the ring was mapped, which the kernel refuses with EINVAL). Also `-p A,B` where A
// exits mid-recording (its events hang up; B stays recorded and perfscope does not spin), and the
// same as user nobody profiling its own process. The profile is read back; stdout is not parsed.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/files.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"
#include "system/capabilities.hpp"

namespace perfscope {
namespace {

using testing::flatten;
using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// A program left running as `argv`, optionally as user nobody; killed and reaped at the end.
class Running {
 public:
  explicit Running(const std::vector<std::string>& argv, bool as_nobody = false) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (as_nobody && (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                        ::setresuid(65534, 65534, 65534) != 0)) {
        ::_exit(126);
      }
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Running() { end(); }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

  pid_t pid() const { return pid_; }
  // Killed but not reaped: a zombie, whose pidfd stays readable until end() reaps it.
  void kill_only() const { ::kill(pid_, SIGKILL); }
  void end() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Its threads once it has `count` (the readiness signal of a threaded target); empty after
  // 10 s without.
  std::vector<pid_t> threads(std::size_t count) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      auto names = list_directory("/proc/" + std::to_string(pid_) + "/task");
      if (names && names->size() >= count) {
        std::vector<pid_t> tids;
        for (const auto& n : *names) tids.push_back(static_cast<pid_t>(std::stol(n)));
        return tids;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return {};
  }

 private:
  pid_t pid_ = -1;
};

// Samples by thread id in a saved profile, for process `pid`.
std::map<std::int64_t, std::int64_t> samples_by_tid(const std::vector<testing::FlatSample>& all,
                                                    pid_t pid) {
  std::map<std::int64_t, std::int64_t> by_tid;
  for (const auto& s : all) {
    if (s.pid == pid) by_tid[s.tid] += s.count;
  }
  return by_tid;
}

// Every thread of `threads` but the main one (which only joins) has samples in `all`.
void expect_workers_sampled(const std::vector<testing::FlatSample>& all, pid_t pid,
                            const std::vector<pid_t>& threads, const std::string& log) {
  const auto by_tid = samples_by_tid(all, pid);
  std::string text;
  for (const auto& [tid, n] : by_tid) text += std::to_string(tid) + ":" + std::to_string(n) + " ";
  for (pid_t tid : threads) {
    if (tid == pid) continue;
    EXPECT_GE(by_tid.count(tid) ? by_tid.at(tid) : 0, 3)
        << "worker " << tid << " of " << pid << "; samples by tid " << text << "\n"
        << log;
  }
}

double cpu_seconds_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(rest), {}};
  if (f.size() < 13) return -1;
  return static_cast<double>(std::stol(f[11]) + std::stol(f[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Once perfscope has opened perf events (or loaded BPF programs): it is recording.
bool wait_until_recording(pid_t perfscope) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const std::string dir = "/proc/" + std::to_string(perfscope) + "/fd";
  while (std::chrono::steady_clock::now() < end) {
    auto fds = list_directory(dir);
    if (!fds) return false;
    for (const auto& fd : *fds) {
      char link[256] = {};
      if (::readlink((dir + "/" + fd).c_str(), link, sizeof link - 1) > 0 &&
          std::string(link) == "anon_inode:[perf_event]") {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

struct Mode {
  std::string name;
  std::vector<std::string> flags;  // after `record`
};

void PrintTo(const Mode& mode, std::ostream* os) {
  *os << mode.name;
}

const std::vector<Mode>& modes() {
  static const std::vector<Mode> all = {
      {"perf_fp", {"--backend", "perf", "--call-graph", "fp"}},
      {"perf_dwarf", {"--backend", "perf", "--call-graph", "dwarf"}},
      {"bpf", {"--backend", "bpf"}},
      {"auto", {}},
  };
  return all;
}

class RecordPid : public ::testing::TestWithParam<Mode> {
 protected:
  void require_backend() {
    if (GetParam().name == "bpf") PS_REQUIRE(testing::bpf_backend());
  }
  std::vector<std::string> record(const std::string& bin, const std::string& pids,
                                  const std::string& seconds, const std::string& out) const {
    std::vector<std::string> argv{bin, "record"};
    argv.insert(argv.end(), GetParam().flags.begin(), GetParam().flags.end());
    argv.insert(argv.end(), {"-F", "499", "-p", pids, "-d", seconds, "-o", out});
    return argv;
  }
};

// Three threads burning CPU: every one of them is in the profile, with its hot function.
TEST_P(RecordPid, EveryThreadOfAThreeThreadProcess) {
  PS_REQUIRE(paranoid(1), pmu("software"));
  require_backend();
  if (IsSkipped()) return;
  TempDir dir;
  Running p({target("ps-threads"), "3", "60000"});
  const auto tids = p.threads(4);
  ASSERT_EQ(tids.size(), 4u);
  const auto r = run(record(perfscope_binary(), std::to_string(p.pid()), "1", dir.file("p.pb.gz")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto samples = flatten(load(dir.file("p.pb.gz")));
  expect_workers_sampled(samples, p.pid(), tids, r.err);
  const auto all = testing::total(samples, "ps-threads");
  EXPECT_GT(testing::leaf_count(samples, "ps-threads", "thread_burn") * 2, all)
      << "most samples in perfscope_targets::thread_burn";
}

// -p A,B: A is killed while the recording runs; B is still recorded to the end and perfscope
// waits for it without spinning (A's events report HUP for good once A is gone).
TEST_P(RecordPid, ProcessThatExitsMidRecordingLeavesTheOtherRecorded) {
  PS_REQUIRE(paranoid(1), pmu("software"));
  require_backend();
  if (IsSkipped()) return;
  TempDir dir;
  Running a({target("ps-threads"), "3", "60000"});
  Running b({target("ps-threads"), "3", "60000"});
  ASSERT_EQ(a.threads(4).size(), 4u);
  const auto b_tids = b.threads(4);
  ASSERT_EQ(b_tids.size(), 4u);
  testing::BackgroundProcess recorder(
      record(perfscope_binary(), std::to_string(a.pid()) + "," + std::to_string(b.pid()), "3",
             dir.file("ab.pb.gz")),
      dir.file("record.log"));
  ASSERT_TRUE(wait_until_recording(recorder.pid())) << recorder.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  a.end();
  const double cpu_before = cpu_seconds_of(recorder.pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu_used = cpu_seconds_of(recorder.pid()) - cpu_before;
  EXPECT_LT(cpu_used, 0.3) << "perfscope's CPU time in 1 s of recording B alone";
  ASSERT_EQ(recorder.wait(std::chrono::seconds(60)), 0) << recorder.log();
  const auto samples = flatten(load(dir.file("ab.pb.gz")));
  expect_workers_sampled(samples, b.pid(), b_tids, recorder.log());
}

// -p A,B where A has exited but its parent has not reaped it: A's pidfd stays readable, so the
// recording must stop waiting on it (it woke every wait at once, a busy loop, until reaped).
TEST(RecordPidZombie, AnExitedUnreapedProcessDoesNotWakeEveryWait) {
  PS_REQUIRE(paranoid(1), pmu("software"));
  TempDir dir;
  Running a({target("ps-threads"), "1", "60000"});
  Running b({target("ps-threads"), "1", "60000"});
  ASSERT_EQ(a.threads(2).size(), 2u);
  ASSERT_EQ(b.threads(2).size(), 2u);
  testing::BackgroundProcess recorder(
      {perfscope_binary(), "record", "-p", std::to_string(a.pid()) + "," + std::to_string(b.pid()),
       "-d", "3", "-o", dir.file("z.pb.gz")},
      dir.file("record.log"));
  ASSERT_TRUE(wait_until_recording(recorder.pid())) << recorder.log();
  a.kill_only();
  const double cpu_before = cpu_seconds_of(recorder.pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu_used = cpu_seconds_of(recorder.pid()) - cpu_before;
  EXPECT_LT(cpu_used, 0.3) << "perfscope's CPU time in 1 s while A is a zombie";
  ASSERT_EQ(recorder.wait(std::chrono::seconds(60)), 0) << recorder.log();
  a.end();
}

INSTANTIATE_TEST_SUITE_P(Modes, RecordPid, ::testing::ValuesIn(modes()),
                         [](const auto& param_info) { return param_info.param.name; });

// The case of issue 17: a threaded program without frame pointers (Debian's python3), for which
// auto picks the perf backend with DWARF stacks.
TEST(RecordPidAuto, ThreadedProgramWithoutFramePointers) {
  PS_REQUIRE(paranoid(1), pmu("software"));
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  TempDir dir;
  Running p({"/usr/bin/python3", "-c",
             "import threading\n"
             "def burn():\n"
             "    while True: pass\n"
             "for _ in range(3): threading.Thread(target=burn).start()\n"});
  const auto tids = p.threads(4);
  ASSERT_EQ(tids.size(), 4u);
  const auto r = run({perfscope_binary(), "record", "-F", "499", "-p", std::to_string(p.pid()),
                      "-d", "1", "-o", dir.file("py.pb.gz")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The threads take turns holding the interpreter lock; each gets some CPU in a second.
  expect_workers_sampled(flatten(load(dir.file("py.pb.gz"))), p.pid(), tids, r.err);
}

// User nobody records its own three-thread process (perf_event_paranoid 2 allows user space).
class RecordPidUnprivileged : public ::testing::TestWithParam<Mode> {};

TEST_P(RecordPidUnprivileged, OwnThreeThreadProcess) {
  PS_REQUIRE(root(), pmu("software"));
  const auto& caps = system::Capabilities::current();
  if (caps.paranoid > 2) GTEST_SKIP() << "perf_event_paranoid " << caps.paranoid;
  TempDir dir;
  Running p({testing::target_for_nobody("ps-threads"), "3", "60000"}, true);
  const auto tids = p.threads(4);
  ASSERT_EQ(tids.size(), 4u);
  testing::RunOptions nobody;
  nobody.as_nobody = true;
  nobody.cwd = dir.path();
  std::vector<std::string> argv{testing::perfscope_binary_for_nobody(), "record"};
  argv.insert(argv.end(), GetParam().flags.begin(), GetParam().flags.end());
  argv.insert(argv.end(), {"-F", "499", "-p", std::to_string(p.pid()), "-d", "1", "-o", "p.pb.gz"});
  const auto r = run(argv, nobody);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_workers_sampled(flatten(load(dir.file("p.pb.gz"))), p.pid(), tids, r.err);
}

INSTANTIATE_TEST_SUITE_P(Modes, RecordPidUnprivileged,
                         ::testing::Values(modes()[0], modes()[1], modes()[3]),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace perfscope
