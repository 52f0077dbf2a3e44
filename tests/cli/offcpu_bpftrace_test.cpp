// perfscope record --off-cpu against bpftrace's off-CPU one-liner, on a program nobody here wrote:
// Debian's python3 running threads that wait in known places (time.sleep, a pipe read answered
// later, select with a timeout). Both record the same run: bpftrace
// on tracepoint:sched:sched_switch sums each thread's off-CPU nanoseconds by its kernel stack
// (kstack, taken as it leaves the CPU), perfscope by its stacks in the kernel. Compared: each
// kernel function's share of the threads' off-CPU time (the time of the stacks that hold it).
// Kernel stacks, not user ones: bpftrace's ustack follows frame pointers, which neither Debian's
// python3 nor its libc keeps, so a user-stack comparison would measure that, not the two tools.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "profile/names.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::TempDir;

// Four threads named psbt-* (PR_SET_NAME through ctypes), each waiting ROUNDS times; the main
// thread joins them.
constexpr const char* kWorkload = R"x(import ctypes, os, select, sys, threading, time
libc = ctypes.CDLL(None)
def name(n):
    libc.prctl(15, n.encode(), 0, 0, 0)  # PR_SET_NAME: this thread's comm
    os.write(1, b"thread %d %s\n" % (threading.get_native_id(), n.encode()))
rounds = int(sys.argv[1])
request_r, request_w = os.pipe()
reply_r, reply_w = os.pipe()
idle_r, idle_w = os.pipe()
def nap():
    name("psbt-nap")
    for _ in range(rounds):
        time.sleep(0.02)
def ask():
    name("psbt-ask")
    for _ in range(rounds):
        os.write(request_w, b"?")
        os.read(reply_r, 1)
def answer():
    name("psbt-answer")
    for _ in range(rounds):
        os.read(request_r, 1)
        time.sleep(0.03)
        os.write(reply_w, b"!")
def poll():
    name("psbt-poll")
    for _ in range(rounds):
        select.select([idle_r], [], [], 0.01)
name("psbt-main")
threads = [threading.Thread(target=f) for f in (nap, ask, answer, poll)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("rounds", rounds)
)x";

// Off-CPU nanoseconds of the psbt-* threads by thread and kernel stack, summed in the kernel by
// bpftrace. The test keeps the four waiting threads (they print their thread ids), not the main
// thread: its start-up (the interpreter loading, a second or more on a loaded machine) happens
// before it names itself, so the one-liner's name filter leaves it out. The others inherit the
// name psbt-main and are seen from their first switch.
constexpr const char* kOneLiner =
    R"x(BEGIN { printf("ready\n"); }
tracepoint:sched:sched_switch {
  if (strncmp(args->prev_comm, "psbt-", 5) == 0) {
    @start[args->prev_pid] = nsecs; @stack[args->prev_pid] = kstack;
  }
  $t = @start[args->next_pid];
  if ($t) {
    @off[args->next_pid, @stack[args->next_pid]] = sum(nsecs - $t);
    delete(@start[args->next_pid]); delete(@stack[args->next_pid]);
  }
}
END { clear(@start); clear(@stack); })x";

// bpftrace starts first; once its BEGIN probe has run (after its probes are attached) perfscope
// runs python3, which starts only once perfscope records: both trace the whole of the threads'
// run. bpftrace stops on SIGINT and prints @off.
constexpr const char* kDriver = R"x(set -eu
dir=$1 perfscope=$2 rounds=$3
mkfifo "$dir/bt.fifo"
line=
bpftrace -B line -e "$(cat "$dir/oneliner.bt")" >"$dir/bt.fifo" 2>"$dir/bt.err" &
bt=$!
exec 3<"$dir/bt.fifo"
while read -r line <&3; do
  echo "bpftrace: $line" >&2
  [ "$line" = ready ] && break
done
[ "$line" = ready ] || { cat "$dir/bt.err" >&2; exit 3; }
cat <&3 >"$dir/bt.out" &
reader=$!
status=0
"$perfscope" record --off-cpu -o "$dir/off.pb.gz" -- python3 "$dir/workload.py" "$rounds" \
  2>"$dir/perfscope.err" || status=$?
kill -INT $bt
wait $bt || true
wait $reader
cat "$dir/perfscope.err" >&2
exit $status
)x";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A kernel symbol as bpftrace prints it ("do_nanosleep+68") without its offset.
std::string function_of(std::string frame) {
  while (!frame.empty() && frame.front() == ' ') frame.erase(frame.begin());
  if (const auto plus = frame.rfind('+'); plus != std::string::npos) frame.resize(plus);
  return frame;
}

// Each kernel function's nanoseconds: the time of the stacks that hold it (once per stack).
using Shares = std::map<std::string, double>;

double total_of(const Shares& s, const std::string& key) {
  const auto it = s.find(key);
  return it == s.end() ? 0 : it->second;
}

// bpftrace's "@off[TID, \n  frame\n  ...\n]: NS" entries of the threads `tids`.
Shares bpftrace_shares(const std::string& path, const std::set<long>& tids, double& total) {
  Shares shares;
  std::ifstream in(path);
  std::set<std::string> functions;
  bool in_stack = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("@off[")) {
      in_stack = tids.count(std::stol(line.substr(5))) > 0;
      functions.clear();
    } else if (in_stack && line.starts_with("]: ")) {
      in_stack = false;
      const double ns = std::stod(line.substr(3));
      total += ns;
      for (const auto& f : functions) shares[f] += ns;
    } else if (in_stack && !line.empty()) {
      functions.insert(function_of(line));
    }
  }
  return shares;
}

// perfscope's profile: the samples of the threads `tids`, kernel frames only (their mapping is the
// kernel's: [kernel.kallsyms]).
Shares perfscope_shares(const std::string& path, const std::set<long>& tids, double& total) {
  Shares shares;
  const auto p = load(path);
  for (const auto& s : p.samples()) {
    long tid = 0;
    for (const auto& l : s.labels) {
      if (p.string(l.key) == "tid") tid = static_cast<long>(l.num);
    }
    if (!tids.count(tid)) continue;
    const auto ns = static_cast<double>(s.values.at(1));
    total += ns;
    std::set<std::string> functions;
    for (auto id : s.location_ids) {
      const auto& loc = p.location(id);
      if (!profile::is_kernel_mapping(p, loc.mapping_id)) continue;
      for (const auto& line : loc.lines) {
        functions.insert(std::string(p.string(p.function(line.function_id).name)));
      }
    }
    for (const auto& f : functions) shares[f] += ns;
  }
  return shares;
}

TEST(OffCpuBpftrace, SameKernelFunctionsAndSharesAsBpftraceOnPythonThreads) {
  PS_REQUIRE(bpf_backend(), program("bpftrace"), program("python3"));
  TempDir dir;
  write_file(dir.file("workload.py"), kWorkload);
  write_file(dir.file("oneliner.bt"), kOneLiner);
  write_file(dir.file("driver.sh"), kDriver);
  const auto r = run({"/bin/bash", dir.file("driver.sh"), dir.path(), perfscope_binary(), "60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.err.find("bpftrace: ready"), std::string::npos) << r.err;
  // "thread TID NAME" from each thread as it names itself: the four waiting ones.
  std::set<long> tids;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("thread ") && line.find("psbt-main") == std::string::npos) {
      tids.insert(std::stol(line.substr(7)));
    }
  }
  ASSERT_EQ(tids.size(), 4U) << r.out;
  double bt_total = 0, ps_total = 0;
  const Shares bt = bpftrace_shares(dir.file("bt.out"), tids, bt_total);
  const Shares ps = perfscope_shares(dir.file("off.pb.gz"), tids, ps_total);
  ASSERT_GT(bt_total, 0) << r.err;
  ASSERT_GT(ps_total, 0) << r.err;
  // The same total: both saw the same threads wait (within 5%).
  EXPECT_NEAR(ps_total / bt_total, 1.0, 0.05) << r.err;
  std::ostringstream table;
  for (const auto& [f, ns] : bt) {
    table << f << ": bpftrace " << 100 * ns / bt_total << "%, perfscope "
          << 100 * total_of(ps, f) / ps_total << "%\n";
  }
  std::cerr << "off-CPU seconds: bpftrace " << bt_total / 1e9 << ", perfscope " << ps_total / 1e9
            << "\n"
            << table.str();
  // Every kernel function with at least 5% of bpftrace's time has the same share within 5 points,
  // and so has every one with 5% of perfscope's (a frame one tool shows and the other not).
  std::set<std::string> compared;
  for (const Shares* s : {&bt, &ps}) {
    const double total = s == &bt ? bt_total : ps_total;
    for (const auto& [f, ns] : *s) {
      if (ns / total >= 0.05) compared.insert(f);
    }
  }
  for (const auto& f : compared) {
    SCOPED_TRACE(f);
    EXPECT_NEAR(100 * total_of(ps, f) / ps_total, 100 * total_of(bt, f) / bt_total, 5.0)
        << table.str();
  }
  // The waits the program makes are among them: nanosleep, the pipe read (anon_pipe_read since
  // 6.16) and select.
  for (const char* needle : {"do_nanosleep", "pipe_read", "do_select"}) {
    bool found = false;
    for (const auto& f : compared) found = found || f.find(needle) != std::string::npos;
    EXPECT_TRUE(found) << needle << "\n" << table.str();
  }
}

}  // namespace
}  // namespace perfscope
