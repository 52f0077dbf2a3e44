// `perfscope syscalls`: a static program with a known number of system calls runs under both
// backends; calls and errors must match exactly, by name, and agree with `strace -c -f`.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/profiler.hpp"
#include "bpf/syscall_tracer.hpp"
#include "core/files.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"
#include "syscalls/names.hpp"
#include "syscalls/session.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// The perf backend reads raw tracepoint data (CAP_PERFMON or paranoid -1) and needs tracefs,
// which it mounts itself as root.
testing::Requirement perf_backend() {
  return {[](const system::Capabilities& caps) -> std::string {
    if (!caps.perfmon() && caps.paranoid > -1)
      return "raw tracepoint data needs CAP_PERFMON or kernel.perf_event_paranoid=-1";
    if (caps.tracefs_path.empty() && ::geteuid() != 0)
      return "tracefs is not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)";
    return {};
  }};
}

// The whole of a file perfscope wrote; empty when it is missing.
std::string file_text(const std::string& path) {
  auto text = read_text_file(path);
  return text ? std::move(*text) : std::string();
}

struct Row {
  long calls = 0;
  long errors = 0;
  std::map<std::string, long> errnos;
};
// syscall name (or "pid:name" when grouped by process) -> row, from --json output.
std::map<std::string, Row> rows_of(const std::string& json_text) {
  std::map<std::string, Row> rows;
  const auto j = nlohmann::json::parse(json_text);
  for (const auto& r : j.at("rows")) {
    std::string name = r.at("syscall").get<std::string>();
    if (r.contains("pid")) name = std::to_string(r.at("pid").get<long>()) + ":" + name;
    Row& row = rows[name];
    row.calls += r.at("calls").get<long>();
    row.errors += r.at("errors").get<long>();
    for (const auto& [err, n] : r.at("errnos").items()) row.errnos[err] += n.get<long>();
  }
  return rows;
}

class SyscallsBackends : public ::testing::TestWithParam<std::string> {
 protected:
  void require_backend() {
    if (GetParam() == "bpf") {
      PS_REQUIRE(testing::bpf_backend());
    } else {
      PS_REQUIRE(perf_backend());
    }
  }
};

TEST_P(SyscallsBackends, KnownCallsAndErrorsExactlyByName) {
  require_backend();
  if (IsSkipped()) return;
  auto r = run({perfscope_binary(), "syscalls", "-o", "-", "--backend", GetParam(), "--json", "--",
                target("ps-syscalls-known"), "known"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = rows_of(r.out);
  EXPECT_EQ(rows["openat"].calls, 1000);
  EXPECT_EQ(rows["openat"].errors, 500);
  EXPECT_EQ(rows["openat"].errnos["ENOENT"], 500);
  EXPECT_EQ(rows["openat"].errnos.size(), 1U);
  EXPECT_EQ(rows["write"].calls, 2000);
  EXPECT_EQ(rows["write"].errors, 0);
  EXPECT_EQ(rows["close"].calls, 500);
  EXPECT_EQ(rows["execve"].calls, 1);  // the command's own, not perfscope's PATH search
  EXPECT_FALSE(rows.contains("umask"));
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("backend"), GetParam());
  EXPECT_EQ(j.at("lost"), 0);
}

TEST_P(SyscallsBackends, FollowsChildrenOfTheCommand) {
  require_backend();
  if (IsSkipped()) return;
  auto r = run({perfscope_binary(), "syscalls", "-o", "-", "--backend", GetParam(), "--json", "--",
                target("ps-syscalls-known"), "fork"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = rows_of(r.out);
  EXPECT_EQ(rows["umask"].calls, 600);  // 200 + a child's 300 + a grandchild's 100
  EXPECT_EQ(rows["clone"].calls, 2);    // the parents' calls; a child's return is not a call
}

TEST_P(SyscallsBackends, ByProcessSplitsTheFamily) {
  require_backend();
  if (IsSkipped()) return;
  auto r = run({perfscope_binary(), "syscalls", "-o", "-", "--backend", GetParam(), "--by",
                "process", "--json", "--", target("ps-syscalls-known"), "fork"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<long> umask_counts;
  for (const auto& [name, row] : rows_of(r.out)) {
    if (name.ends_with(":umask")) umask_counts.push_back(row.calls);
  }
  std::sort(umask_counts.begin(), umask_counts.end());
  EXPECT_EQ(umask_counts, (std::vector<long>{100, 200, 300})) << r.out;
  EXPECT_NE(r.out.find("\"comm\": \"ps-syscalls-kno\""), std::string::npos) << r.out;
}

// A thread that names itself does not split its process's rows; by thread, it has its own.
TEST_P(SyscallsBackends, ProcessRowsKeepTheProcessNameThreadRowsTheThreads) {
  require_backend();
  if (IsSkipped()) return;
  for (const char* by : {"process", "thread"}) {
    auto r = run({perfscope_binary(), "syscalls", "-o", "-", "--backend", GetParam(), "--by", by,
                  "--json", "--", target("ps-syscalls-known"), "threads"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> rows;
    const auto j = nlohmann::json::parse(r.out);
    for (const auto& row : j.at("rows")) {
      if (row.at("syscall") != "umask") continue;
      rows.push_back(std::to_string(row.at("calls").get<long>()) + " " +
                     row.at("comm").get<std::string>());
    }
    std::sort(rows.begin(), rows.end());
    if (std::string(by) == "process") {
      EXPECT_EQ(rows, (std::vector<std::string>{"300 ps-syscalls-kno"})) << r.out;
    } else {
      EXPECT_EQ(rows, (std::vector<std::string>{"100 worker", "200 ps-syscalls-kno"})) << r.out;
    }
  }
}

TEST_P(SyscallsBackends, PidCountsOnlyThatProcess) {
  require_backend();
  if (IsSkipped()) return;
  TempDir dir;
  testing::BackgroundProcess program({target("ps-syscalls-known"), "wait-signal"},
                                     dir.file("target.log"));
  ASSERT_TRUE(program.wait_for_log("ready", std::chrono::seconds(10)));
  testing::BackgroundProcess tracer(
      {perfscope_binary(), "syscalls", "--backend", GetParam(), "--json", "-o",
       dir.file("out.json"), "-p", std::to_string(program.pid())},
      dir.file("tracer.log"));
  ASSERT_TRUE(tracer.wait_for_log("counting pid", std::chrono::seconds(20))) << tracer.log();
  ::kill(program.pid(), SIGUSR1);
  EXPECT_EQ(program.wait(), 0);
  // perfscope ends on its own once the process is gone.
  ASSERT_EQ(tracer.wait(), 0) << tracer.log();
  const std::string text = file_text(dir.file("out.json"));
  auto rows = rows_of(text);
  EXPECT_EQ(rows["umask"].calls, 200) << text;  // not the children's 400
}

// CPU time a process has used so far (utime + stime from /proc/PID/stat), in seconds.
double cpu_seconds_of(pid_t pid) {
  const std::string text = file_text("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(rest), {}};
  if (f.size() < 13) return -1;
  return static_cast<double>(std::stol(f[11]) + std::stol(f[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// -p A,B: counting goes on, idle, after A exits, until B exits; both are counted.
TEST_P(SyscallsBackends, PidsThatExitAtDifferentTimes) {
  require_backend();
  if (IsSkipped()) return;
  TempDir dir;
  testing::BackgroundProcess a({target("ps-syscalls-known"), "wait-signal"}, dir.file("a.log"));
  testing::BackgroundProcess b({target("ps-syscalls-known"), "wait-signal"}, dir.file("b.log"));
  ASSERT_TRUE(a.wait_for_log("ready", std::chrono::seconds(10)));
  ASSERT_TRUE(b.wait_for_log("ready", std::chrono::seconds(10)));
  testing::BackgroundProcess tracer(
      {perfscope_binary(), "syscalls", "--backend", GetParam(), "--json", "-o",
       dir.file("out.json"), "-p", std::to_string(a.pid()) + "," + std::to_string(b.pid())},
      dir.file("tracer.log"));
  ASSERT_TRUE(tracer.wait_for_log("counting pid", std::chrono::seconds(20))) << tracer.log();
  ::kill(a.pid(), SIGUSR1);
  EXPECT_EQ(a.wait(), 0);
  const double cpu_before = cpu_seconds_of(tracer.pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu_used = cpu_seconds_of(tracer.pid()) - cpu_before;
  // Waiting for B must not spin (a ring whose event's process is gone reports HUP for good).
  EXPECT_LT(cpu_used, 0.3) << "perfscope's CPU time in 1 s of waiting";
  ::kill(b.pid(), SIGUSR1);
  EXPECT_EQ(b.wait(), 0);
  ASSERT_EQ(tracer.wait(), 0) << tracer.log();
  const std::string text = file_text(dir.file("out.json"));
  EXPECT_EQ(rows_of(text)["umask"].calls, 400) << text;  // 200 each, no children
}

TEST_P(SyscallsBackends, AgreesWithStraceOnCallsAndErrors) {
  require_backend();
  PS_REQUIRE(program("strace"));
  if (IsSkipped()) return;
  for (const char* mode : {"known", "fork"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    auto s = run({find_on_path("strace"), "-c", "-f", "-o", dir.file("strace.txt"),
                  target("ps-syscalls-known"), mode});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    std::ifstream in(dir.file("strace.txt"));
    std::map<std::string, Row> expected;
    std::string line;
    // " 58.55    0.002514           2      1000       500 openat"
    const std::regex row(R"(^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)$)");
    while (std::getline(in, line)) {
      std::smatch m;
      if (!std::regex_match(line, m, row) || m[3] == "total") continue;
      expected[m[3]].calls = std::stol(m[1]);
      expected[m[3]].errors = m[2].matched ? std::stol(m[2]) : 0;
    }
    ASSERT_GT(expected.size(), 5U);
    auto r = run({perfscope_binary(), "syscalls", "-o", "-", "--backend", GetParam(), "--json",
                  "--", target("ps-syscalls-known"), mode});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = rows_of(r.out);
    for (const auto& [name, want] : expected) {
      EXPECT_EQ(rows[name].calls, want.calls) << name;
      EXPECT_EQ(rows[name].errors, want.errors) << name;
    }
    for (const auto& [name, got] : rows) {
      EXPECT_TRUE(expected.contains(name)) << name << " is not in strace's summary";
    }
  }
}

// The count as a library, without the CLI: a held command, exact counts, its exit status.
TEST_P(SyscallsBackends, SessionAsALibraryCountsExactly) {
  require_backend();
  if (IsSkipped()) return;
  const auto choice = syscalls::parse_backend(GetParam());
  ASSERT_TRUE(choice);
  syscalls::SessionOptions options;
  options.command = {target("ps-syscalls-known"), "known"};
  auto session = syscalls::Session::open(
      options, bpf::syscall_tracer_opener(*choice, system::Capabilities::current()));
  ASSERT_TRUE(session) << session.error().describe();
  EXPECT_STREQ(session->backend(), GetParam().c_str());
  ASSERT_TRUE(session->start());
  auto r = session->run();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->command_status, 0);
  EXPECT_EQ(r->stop_signal, 0);
  EXPECT_FALSE(r->command_killed);
  EXPECT_GT(r->command_pid, 0);
  const auto& s = r->summary;
  EXPECT_EQ(s.backend, GetParam());
  EXPECT_EQ(s.lost, 0U);
  EXPECT_GT(s.elapsed_s, 0.0);
  const auto row = [&](const char* name) {
    syscalls::RowKey key;
    key.nr = syscalls::syscall_number(name).value_or(-1);
    return s.rows.contains(key) ? s.rows.at(key) : syscalls::RowStats{};
  };
  EXPECT_EQ(row("openat").calls, 1000U);
  EXPECT_EQ(row("openat").errors, 500U);
  EXPECT_EQ(row("openat").errnos, (std::map<int, std::uint64_t>{{ENOENT, 500}}));
  EXPECT_EQ(row("write").calls, 2000U);
  EXPECT_EQ(row("close").calls, 500U);
  EXPECT_EQ(row("execve").calls, 1U);
}

INSTANTIATE_TEST_SUITE_P(Backend, SyscallsBackends, ::testing::Values("bpf", "perf"));

TEST(Syscalls, TableLooksLikeStraceAndNamesErrors) {
  PS_REQUIRE(testing::bpf_backend());
  auto r =
      run({perfscope_binary(), "syscalls", "-o", "-", "--", target("ps-syscalls-known"), "known"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("% time     seconds  usecs/call     calls    errors syscall\n", 0), 0U)
      << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(R"(\n\s*[\d.]+\s+[\d.]+\s+\d+\s+1000\s+500 openat\n)")))
      << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(R"(\n100\.00\s+[\d.]+\s+\d+\s+\d+\s+500 total\n)")))
      << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(R"(errors by errno:\n\s+openat\s+ENOENT\s+500\n)")))
      << r.out;
  // Sorted by time, largest first.
  std::vector<double> seconds;
  std::istringstream lines(r.out);
  std::string line;
  const std::regex row(R"(^\s*[\d.]+\s+([\d.]+)\s+\d+\s+\d+\s+(\d+\s+)?\w+$)");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, row) && line.find("total") == std::string::npos)
      seconds.push_back(std::stod(m[1]));
  }
  ASSERT_GT(seconds.size(), 3U);
  EXPECT_TRUE(std::is_sorted(seconds.rbegin(), seconds.rend())) << r.out;
  EXPECT_NE(r.err.find("on-CPU time"), std::string::npos) << r.err;
}

TEST(Syscalls, HistogramAndWallClock) {
  PS_REQUIRE(testing::bpf_backend());
  auto r = run({perfscope_binary(), "syscalls", "-o", "-", "-w", "--histogram", "--json", "--",
                target("ps-syscalls-known"), "known"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("time"), "wall");
  bool saw_write = false;
  for (const auto& row : j.at("rows")) {
    if (row.at("syscall") != "write") continue;
    saw_write = true;
    long sum = 0;
    std::uint64_t last_below = 0;
    for (const auto& b : row.at("histogram")) {
      sum += b.at("calls").get<long>();
      EXPECT_GE(b.at("from_ns").get<std::uint64_t>(), last_below);
      last_below = b.at("below_ns").get<std::uint64_t>();
    }
    EXPECT_EQ(sum, 2000);
    EXPECT_LE(row.at("min_ns").get<std::uint64_t>(), row.at("max_ns").get<std::uint64_t>());
    EXPECT_GT(row.at("wall_seconds").get<double>(), 0.0);
  }
  EXPECT_TRUE(saw_write) << r.out;
  auto table = run({perfscope_binary(), "syscalls", "-o", "-", "--histogram", "--",
                    target("ps-syscalls-known"), "known"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("write: 2000 timed calls, wall time per call"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("|****"), std::string::npos) << table.out;
}

TEST(Syscalls, ExitStatusIsTheCommands) {
  PS_REQUIRE(testing::bpf_backend());
  auto r =
      run({perfscope_binary(), "syscalls", "-o", "/dev/null", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(Syscalls, DurationEndsACommandStillRunning) {
  PS_REQUIRE(testing::bpf_backend());
  const auto r = run(
      {perfscope_binary(), "syscalls", "-o", "-", "-d", "0.5", "--json", "--", "/bin/sleep", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("was ended (SIGTERM)"), std::string::npos) << r.err;
  EXPECT_EQ(rows_of(r.out)["execve"].calls, 1) << r.out;
}

// A command that ignores SIGTERM does not keep perfscope waiting: it is killed 2 s later.
TEST(Syscalls, DurationKillsACommandThatIgnoresSigterm) {
  PS_REQUIRE(testing::bpf_backend());
  const auto r = run({perfscope_binary(), "syscalls", "-o", "-", "-d", "0.3", "--json", "--",
                      "/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("was ended (SIGKILL: it was still running 2 s after SIGTERM)"),
            std::string::npos)
      << r.err;
  EXPECT_GE(rows_of(r.out)["execve"].calls, 1) << r.out;
}

// SIGTERM to perfscope alone is passed on to the command; one that ignores it is killed 2 s later
// instead of keeping perfscope waiting, and the summary is still written (only then: no
// temporary file while counting).
TEST(Syscalls, SigtermEndsACommandThatIgnoresIt) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  testing::BackgroundProcess tracer(
      {perfscope_binary(), "syscalls", "--json", "-o", dir.file("out.json"), "--", "/bin/sh", "-c",
       "trap '' TERM; echo ready; exec /bin/sleep 30"},
      dir.file("tracer.log"));
  ASSERT_TRUE(tracer.wait_for_log("ready", std::chrono::seconds(20))) << tracer.log();
  auto entries = list_directory(dir.path());
  ASSERT_TRUE(entries);
  EXPECT_EQ(*entries, std::vector<std::string>{"tracer.log"});
  EXPECT_EQ(tracer.stop(SIGTERM), 128 + SIGTERM) << tracer.log();
  EXPECT_NE(tracer.log().find("was still running 2 s after SIGTERM; killed it (SIGKILL)"),
            std::string::npos)
      << tracer.log();
  EXPECT_EQ(rows_of(file_text(dir.file("out.json")))["execve"].calls, 2);  // sh, then sleep
}

TEST(Syscalls, SystemWideForADuration) {
  PS_REQUIRE(testing::bpf_backend());
  TempDir dir;
  testing::BackgroundProcess program({target("ps-syscalls-known"), "wait-signal"},
                                     dir.file("target.log"));
  ASSERT_TRUE(program.wait_for_log("ready", std::chrono::seconds(10)));
  testing::BackgroundProcess tracer({perfscope_binary(), "syscalls", "-a", "-d", "20", "--by",
                                     "process", "--json", "-o", dir.file("out.json")},
                                    dir.file("tracer.log"));
  ASSERT_TRUE(tracer.wait_for_log("counting every process", std::chrono::seconds(20)))
      << tracer.log();
  ::kill(program.pid(), SIGUSR1);
  EXPECT_EQ(program.wait(), 0);
  // Ctrl-C ends a system-wide count early, and the summary is still written.
  ASSERT_EQ(tracer.stop(SIGINT), 0) << tracer.log();
  const std::string text = file_text(dir.file("out.json"));
  long umask_total = 0;
  for (const auto& [name, row] : rows_of(text)) {
    if (name.ends_with(":umask")) umask_total += row.calls;
  }
  EXPECT_GE(umask_total, 600) << text;  // others on the machine may call umask too
}

TEST(Syscalls, BadInputGetsOneClearError) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"syscalls"}, "nothing to count"},
      {{"syscalls", "-a", "--", "true"}, "choose one target"},
      {{"syscalls", "--by", "file", "--", "true"}, "unknown --by 'file'"},
      {{"syscalls", "--backend", "dtrace", "--", "true"}, "unknown backend 'dtrace'"},
      {{"syscalls", "-p", "999999999"}, "999999999"},
      {{"syscalls", "-p", "abc"}, "abc"},
      {{"syscalls", "-p", ""}, "--pid: an empty list names no target"},
      {{"syscalls", "-p", "", "--", "true"}, "--pid: an empty list names no target"},
      {{"syscalls", "--", "/nonexistent/program"}, "/nonexistent/program"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{perfscope_binary()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv);
    EXPECT_NE(r.exit_code, 0) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  }
  TempDir dir;
  auto r =
      run({perfscope_binary(), "syscalls", "-o", dir.file("no/such/dir/out.txt"), "--", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no/such/dir"), std::string::npos) << r.err;
}

TEST(Syscalls, AsNobodyAClearMessageAndNothingWritten) {
  PS_REQUIRE(root());
  TempDir dir;
  testing::RunOptions as_nobody;
  as_nobody.as_nobody = true;
  auto r = run({testing::perfscope_binary_for_nobody(), "syscalls", "-o", dir.file("out.txt"), "--",
                testing::target_for_nobody("ps-syscalls-known"), "known"},
               as_nobody);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot count system calls here"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("perfscope doctor --need syscalls"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("CAP_BPF"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(dir.file("out.txt")));
  // Nor a temporary beside it.
  auto entries = list_directory(dir.path());
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
}

}  // namespace
}  // namespace perfscope
