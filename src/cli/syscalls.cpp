// `perfscope syscalls`: counts, errors and times of system calls, aggregated in the kernel by an
// eBPF program on the raw_syscalls tracepoints (perf tracepoint events when eBPF is not
// allowed), printed as `strace -c` prints them, without stopping the program at every call.
// The count itself is syscalls::Session; this file parses flags, writes and prints.
#include "cli/syscalls.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "bpf/syscall_tracer.hpp"
#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "process/signal_watch.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"
#include "syscalls/session.hpp"
#include "syscalls/summary.hpp"
#include "system/capabilities.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "syscalls";

struct SyscallsOptions {
  std::string pids;
  bool all = false;
  double duration = 0;
  std::string by = "syscall";
  bool wall = false;
  bool histogram = false;
  bool json = false;
  std::string output;     // empty: standard error, as strace -c (the command's output is untouched)
  std::string json_file;  // also the JSON summary, beside the table
  std::string backend = "auto";
  std::vector<std::string> command;
};

Result<syscalls::SessionOptions> session_options(const SyscallsOptions& o) {
  syscalls::SessionOptions s;
  const auto by = syscalls::parse_group_by(o.by);
  if (!by) {
    return Error{fmt::format("unknown --by '{}'", o.by), 0, "  choose syscall, process or thread"};
  }
  s.by = *by;
  if (o.duration < 0) return Error{"-d must be a positive number of seconds", 0, ""};
  if (!o.pids.empty()) {
    auto processes = process::process_targets(o.pids);
    if (!processes) return processes.error();
    s.pids = processes->pids;
  }
  s.all = o.all;
  s.command = o.command;
  s.cpu_time = !o.wall;
  s.duration_s = o.duration;
  return s;
}

// The summary to -o (and --json-file), then perfscope's lines on standard error.
int report(const SyscallsOptions& o, const syscalls::SessionResult& r) {
  const syscalls::TableOptions table{.wall = o.wall, .histogram = o.histogram};
  const std::string text =
      o.json ? syscalls::to_json(r.summary, table) : syscalls::format_table(r.summary, table);
  if (auto st = write_output_file(o.output, text); !st) return report_error(kCmd, st.error());
  if (!o.json_file.empty()) {
    auto st = write_output_file(o.json_file, syscalls::to_json(r.summary, table));
    if (!st) return report_error(kCmd, st.error());
  }
  const auto& s = r.summary;
  fmt::print(stderr, "perfscope syscalls: backend {}, {:.3f} s, time column: {}\n",
             s.backend == "bpf" ? "bpf (in-kernel aggregation)" : "perf (tracepoint events)",
             s.elapsed_s,
             o.wall || !s.cpu_time ? "wall-clock time in the call"
                                   : "on-CPU time in the call (-w: wall-clock)");
  for (const auto& n : r.notes) fmt::print(stderr, "perfscope syscalls: note: {}\n", n);
  if (s.lost > 0) {
    fmt::print(stderr,
               "perfscope syscalls: warning: {} calls or events were lost; the counts are lower "
               "bounds\n",
               s.lost);
  }
  if (o.command.empty()) return 0;
  const auto grace = process::Workload::kEndGraceSeconds;
  if (r.command_ended_by_duration) {
    fmt::print(stderr, "perfscope syscalls: -d {} s elapsed; {} (pid {}) was ended ({})\n",
               o.duration, o.command.front(), r.command_pid,
               r.command_killed
                   ? fmt::format("SIGKILL: it was still running {} s after SIGTERM", grace)
                   : std::string("SIGTERM"));
  } else if (r.command_killed) {
    fmt::print(stderr,
               "perfscope syscalls: {} (pid {}) was still running {} s after SIG{}; killed it "
               "(SIGKILL)\n",
               o.command.front(), r.command_pid, grace, sigabbrev_np(r.stop_signal));
  }
  return r.command_status;
}

int run_syscalls(const SyscallsOptions& o) {
  const auto backend = syscalls::parse_backend(o.backend);
  if (!backend) {
    return report_error(kCmd, Error{fmt::format("unknown backend '{}'", o.backend), 0,
                                    "  use --backend auto, bpf or perf"});
  }
  auto options = session_options(o);
  if (!options) return report_error(kCmd, options.error());
  for (const auto* path : {&o.output, &o.json_file}) {
    if (auto st = check_writable(*path); !st) return report_error(kCmd, st.error());
  }
  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  auto session = syscalls::Session::open(
      std::move(*options), bpf::syscall_tracer_opener(*backend, system::Capabilities::current()));
  if (!session) return report_error(kCmd, session.error());
  if (auto st = session->start(); !st) return report_error(kCmd, st.error());
  if (o.command.empty()) {
    fmt::print(stderr, "perfscope syscalls: counting {} ({}); Ctrl-C to stop\n",
               o.all ? "every process" : "pid " + o.pids, session->backend());
  }
  auto result = session->run(&*signals);
  if (!result) return report_error(kCmd, result.error());
  return report(o, *result);
}

}  // namespace

void add_syscalls_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SyscallsOptions>();
  auto* c = app.add_subcommand(
      "syscalls",
      "Summarize system calls like strace -c (calls, errors, time, latency histograms) from "
      "kernel tracepoints, without stopping the program");
  c->add_option("-p,--pid", o->pids, "Count these processes (all their threads, not children)")
      ->check(non_empty_target());
  c->add_flag("-a,--all-cpus", o->all, "Count every process on the system (but perfscope)");
  c->add_option("-d,--duration", o->duration,
                "Stop after SECONDS, ending a command still running (default: when the command "
                "and its children, or the -p processes, are gone; with -a: at Ctrl-C)");
  c->add_option("--by", o->by, "Rows per syscall, or per process or thread and syscall")
      ->capture_default_str();
  c->add_flag("-w,--wall", o->wall,
              "Time column from wall-clock time in the call (default: on-CPU time, as strace -c)");
  c->add_flag("--histogram", o->histogram, "Add a latency histogram per row");
  c->add_flag("--json", o->json, "Print JSON instead of the table");
  c->add_option("--json-file", o->json_file, "Also write the JSON summary to FILE");
  c->add_option("-o,--output", o->output,
                "Write the summary to FILE ('-': standard output; default: standard error, as "
                "strace -c, so the command's output is untouched)");
  c->add_option("--backend", o->backend,
                "auto (eBPF when allowed, else perf tracepoint events), bpf or perf")
      ->capture_default_str();
  c->add_option("command", o->command, "Command to run (after --)");
  c->footer(
      "The exit status is the command's. Children of the command are followed; the summary is\n"
      "printed when the command and every process it started have exited.\n"
      "Examples:\n"
      "  perfscope syscalls -- dd if=/dev/zero of=/dev/null bs=1 count=100000\n"
      "  perfscope syscalls --by process --histogram -- make -j2\n"
      "  perfscope syscalls -p 1234 -d 10 --json\n"
      "  perfscope syscalls -a -d 5 -w");
  c->callback([o, &exit_code] { exit_code = run_syscalls(*o); });
}

}  // namespace perfscope::cli
