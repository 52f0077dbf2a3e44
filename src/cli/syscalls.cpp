// `perfscope syscalls`: counts, errors and times of system calls, aggregated in the kernel by an
// eBPF program on the raw_syscalls tracepoints (perf tracepoint events when eBPF is not
// allowed), printed as `strace -c` prints them, without stopping the program at every call.
#include "cli/syscalls.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bpf/profiler.hpp"
#include "bpf/syscall_tracer.hpp"
#include "cli/report_error.hpp"
#include "core/clock.hpp"
#include "core/files.hpp"
#include "core/output_file.hpp"
#include "process/signal_watch.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"
#include "syscalls/names.hpp"
#include "syscalls/perf_tracer.hpp"
#include "syscalls/summary.hpp"

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

nlohmann::json summary_json(const syscalls::Summary& s, const SyscallsOptions& o) {
  using nlohmann::json;
  const bool wall = o.wall || !s.cpu_time;
  json rows = json::array();
  for (const auto& [key, row] : syscalls::sorted_rows(s, o.wall)) {
    json r;
    r["syscall"] = syscalls::syscall_name(key.nr);
    r["nr"] = key.nr;
    if (s.by != syscalls::GroupBy::syscall) {
      r["pid"] = key.tgid;
      r["comm"] = key.comm;
    }
    if (s.by == syscalls::GroupBy::thread) r["tid"] = key.tid;
    r["calls"] = row.calls;
    r["errors"] = row.errors;
    const auto t = syscalls::row_time_ns(s, row, o.wall);
    r["seconds"] = static_cast<double>(t) / 1e9;
    r["usecs_per_call"] = row.calls == 0 ? 0 : t / 1000 / row.calls;
    r["wall_seconds"] = static_cast<double>(row.wall_ns) / 1e9;
    if (s.cpu_time) r["cpu_seconds"] = static_cast<double>(row.cpu_ns) / 1e9;
    r["timed_calls"] = row.timed;
    r["min_ns"] = row.min_ns;
    r["max_ns"] = row.max_ns;
    json errs = json::object();
    for (const auto& [err, n] : row.errnos) errs[syscalls::errno_name(err)] = n;
    r["errnos"] = errs;
    if (o.histogram) {
      json h = json::array();
      for (int b = 0; b < syscalls::kHistogramBuckets; ++b) {
        const auto n = row.histogram[static_cast<std::size_t>(b)];
        if (n == 0) continue;
        h.push_back({{"from_ns", b == 0 ? 0 : (std::uint64_t{1} << b)},
                     {"below_ns", std::uint64_t{1} << (b + 1)},
                     {"calls", n}});
      }
      r["histogram"] = h;
    }
    rows.push_back(std::move(r));
  }
  const auto total = s.total();
  json j;
  j["backend"] = s.backend;
  j["time"] = wall ? "wall" : "cpu";
  j["by"] = o.by;
  j["elapsed_seconds"] = s.elapsed_s;
  j["total"] = {{"calls", total.calls},
                {"errors", total.errors},
                {"seconds", static_cast<double>(syscalls::row_time_ns(s, total, o.wall)) / 1e9}};
  j["lost"] = s.lost;
  j["unfinished"] = s.unfinished;
  j["rows"] = std::move(rows);
  return j;
}

// The tracer: eBPF when allowed (or asked), else perf tracepoint events. When neither works, one
// error with both reasons and doctor's fix.
Result<std::unique_ptr<syscalls::Tracer>> open_tracer(const SyscallsOptions& o,
                                                      const syscalls::TracerOptions& t,
                                                      std::vector<std::string>& notes) {
  const auto& caps = system::Capabilities::current();
  std::string bpf_why;
  if (o.backend != "perf") {
    bpf_why = bpf::unavailable_reason(caps);
    if (bpf_why.empty()) {
      auto tracer = bpf::open_syscall_tracer(t, caps);
      if (tracer) return tracer;
      bpf_why = tracer.error().describe();
    }
    if (o.backend == "bpf") {
      return Error{"the eBPF backend cannot run here", 0,
                   fmt::format("  {}\n  or use --backend perf\n  more: perfscope doctor --need "
                               "syscalls,ebpf",
                               bpf_why)};
    }
  }
  auto tracer = syscalls::open_perf_tracer(t, caps);
  if (tracer) {
    if (!bpf_why.empty()) notes.push_back("eBPF cannot run here (" + bpf_why + ")");
    return tracer;
  }
  if (o.backend == "perf") return tracer.error();
  // One message with both reasons: each hint's lines joined, without their own "more:" lines.
  std::string perf_why = tracer.error().message();
  std::string_view rest = tracer.error().hint;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty() && !line.starts_with("more:")) perf_why += fmt::format("; {}", line);
  }
  return Error{"cannot count system calls here", 0,
               fmt::format("  eBPF: {}\n  perf tracepoints: {}\n  fix: run as root, or sudo setcap "
                           "cap_perfmon,cap_bpf=ep {}\n  more: perfscope doctor --need syscalls",
                           bpf_why, perf_why, read_link("/proc/self/exe"))};
}

int run_syscalls(const SyscallsOptions& o) {
  const int modes = (o.all ? 1 : 0) + (o.pids.empty() ? 0 : 1) + (o.command.empty() ? 0 : 1);
  if (modes != 1) {
    return report_error(kCmd, Error{modes == 0 ? "nothing to count" : "choose one target", 0,
                                    "  give exactly one of: -- CMD ARGS, -p PID, -a"});
  }
  syscalls::TracerOptions t;
  if (o.by == "syscall") {
    t.by = syscalls::GroupBy::syscall;
  } else if (o.by == "process") {
    t.by = syscalls::GroupBy::process;
  } else if (o.by == "thread") {
    t.by = syscalls::GroupBy::thread;
  } else {
    return report_error(kCmd, Error{fmt::format("unknown --by '{}'", o.by), 0,
                                    "  choose syscall, process or thread"});
  }
  if (o.backend != "auto" && o.backend != "bpf" && o.backend != "perf") {
    return report_error(kCmd, Error{fmt::format("unknown backend '{}'", o.backend), 0,
                                    "  use --backend auto, bpf or perf"});
  }
  if (o.duration < 0) {
    return report_error(kCmd, Error{"-d must be a positive number of seconds", 0, ""});
  }
  t.all = o.all;
  t.cpu_time = !o.wall;
  if (!o.pids.empty()) {
    auto processes = process::process_targets(o.pids);
    if (!processes) return report_error(kCmd, processes.error());
    t.pids = processes->pids;
  }

  // The output first: a path that cannot be written fails before anything runs.
  auto out = OutputFile::open(o.output);
  if (!out) return report_error(kCmd, out.error());
  std::optional<OutputFile> json_out;
  if (!o.json_file.empty()) {
    auto f = OutputFile::open(o.json_file);
    if (!f) return report_error(kCmd, f.error());
    json_out.emplace(std::move(*f));
  }

  std::optional<process::Workload> workload;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return report_error(kCmd, w.error());
    workload.emplace(std::move(*w));
    t.command = workload->pid();
  }
  std::vector<std::string> notes;
  auto tracer = open_tracer(o, t, notes);
  if (!tracer) return report_error(kCmd, tracer.error());
  for (const auto& n : (*tracer)->notes()) notes.push_back(n);

  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  if (auto st = (*tracer)->start(); !st) return report_error(kCmd, st.error());
  const double start = monotonic_seconds();
  if (workload) {
    if (auto st = workload->start(); !st) return report_error(kCmd, st.error());
  } else {
    fmt::print(stderr, "perfscope syscalls: counting {} ({}); Ctrl-C to stop\n",
               o.all ? "every process" : "pid " + o.pids, (*tracer)->backend());
  }
  const double deadline = o.duration > 0 ? start + o.duration : 0;
  bool interrupted = false;
  for (;;) {
    int timeout = 200;
    if (deadline > 0) {
      const double left = deadline - monotonic_seconds();
      if (left <= 0) break;
      timeout = std::min(timeout, static_cast<int>(left * 1000) + 1);
    }
    auto ready = (*tracer)->wait(signals->fd(), timeout);
    if (!ready) return report_error(kCmd, ready.error());
    if (*ready) {
      for (auto sig = signals->next(); sig.number != 0; sig = signals->next()) {
        if (sig.number == SIGCHLD) {
          if (workload) (void)workload->try_reap();
        } else if (workload && !workload->exited()) {
          // The command decides (a terminal's Ctrl-C reached it too); its summary follows.
          if (!sig.from_terminal) ::kill(workload->pid(), sig.number);
        } else {
          interrupted = true;
        }
      }
    }
    if (interrupted) break;
    if (workload) {
      // Like strace -f: until the command and every process it started are gone.
      if (workload->exited() && !(*tracer)->followed_alive()) break;
    } else if (!o.all) {
      bool any = false;
      for (pid_t p : t.pids) any = any || process_running(p);
      if (!any) break;
    }
  }
  const double elapsed = monotonic_seconds() - start;
  auto summary = (*tracer)->finish();
  if (!summary) return report_error(kCmd, summary.error());
  summary->elapsed_s = elapsed;
  for (const auto& n : (*tracer)->notes()) {
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }

  std::string text;
  if (o.json) {
    text = summary_json(*summary, o).dump(2) + "\n";
  } else {
    syscalls::TableOptions table;
    table.wall = o.wall;
    table.histogram = o.histogram;
    text = syscalls::format_table(*summary, table);
  }
  std::fwrite(text.data(), 1, text.size(), out->stream());
  if (auto st = out->commit(); !st) return report_error(kCmd, st.error());
  if (json_out) {
    const std::string j = summary_json(*summary, o).dump(2) + "\n";
    std::fwrite(j.data(), 1, j.size(), json_out->stream());
    if (auto st = json_out->commit(); !st) return report_error(kCmd, st.error());
  }

  const bool wall = o.wall || !summary->cpu_time;
  fmt::print(stderr, "perfscope syscalls: backend {}, {:.3f} s, time column: {}\n",
             summary->backend == "bpf" ? "bpf (in-kernel aggregation)" : "perf (tracepoint events)",
             elapsed,
             wall ? "wall-clock time in the call" : "on-CPU time in the call (-w: wall-clock)");
  for (const auto& n : notes) fmt::print(stderr, "perfscope syscalls: note: {}\n", n);
  if (summary->lost > 0) {
    fmt::print(stderr,
               "perfscope syscalls: warning: {} calls or events were lost; the counts are lower "
               "bounds\n",
               summary->lost);
  }
  if (workload) {
    if (!workload->exited()) {
      // -d ended the count before the command: it is ended too, as perf stat --timeout does.
      const bool terminated = workload->end(SIGTERM);
      fmt::print(stderr, "perfscope syscalls: -d {} s elapsed; {} (pid {}) was ended ({})\n",
                 o.duration, o.command.front(), workload->pid(),
                 terminated ? std::string("SIGTERM")
                            : fmt::format("SIGKILL: it was still running {} s after SIGTERM",
                                          process::Workload::kEndGraceSeconds));
      return 0;
    }
    return workload->exit_code();
  }
  return 0;
}

}  // namespace

void add_syscalls_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SyscallsOptions>();
  auto* c = app.add_subcommand(
      "syscalls",
      "Summarize system calls like strace -c (calls, errors, time, latency histograms) from "
      "kernel tracepoints, without stopping the program");
  c->add_option("-p,--pid", o->pids, "Count these processes (all their threads, not children)");
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
