// `perfscope record`: flags in, recording::Recorder does the work, the summary goes to stderr.
#include "cli/record.hpp"

#include <sys/resource.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "core/clock.hpp"
#include "core/output_file.hpp"
#include "process/signal_watch.hpp"
#include "profile/profile.hpp"
#include "recording/recorder.hpp"
#include "system/capabilities.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "record";

struct RecordFlags {
  recording::RecordOptions options;
  bool all_cpus = false;
  bool call_graph_flag = false;  // -g: call chains, the default anyway
  std::string call_graph = "auto";
  std::string backend = "auto";
  std::string output = "perfscope.pb.gz";
  std::uint64_t unwind_table_limit_mib = 64;
  bool off_cpu = false;
  bool wall = false;
  std::string min_block = "1us";
  std::vector<std::string> command;
};

// --min-block: a number with a unit (ns, us, ms, s; microseconds without one) in nanoseconds.
Result<std::uint64_t> parse_min_block(const std::string& text) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "us") scale = 1e3;
  if (unit == "ns") scale = 1;
  if (unit == "ms") scale = 1e6;
  if (unit == "s") scale = 1e9;
  if (used == 0 || scale == 0 || value < 0 || value * scale > 1e15) {
    return Error{fmt::format("--min-block '{}' is not a duration", text), 0,
                 "  e.g. --min-block 1us, 500ns, 10ms (a bare number is microseconds)"};
  }
  return static_cast<std::uint64_t>(value * scale);
}

int run_record(RecordFlags& f) {
  recording::RecordOptions& o = f.options;
  auto graph = recording::parse_call_graph(f.call_graph);
  if (!graph) return report_error(kCmd, graph.error());
  o.call_graph = *graph;
  auto backend = recording::parse_backend(f.backend);
  if (!backend) return report_error(kCmd, backend.error());
  o.backend = *backend;
  o.unwind_table_limit = f.unwind_table_limit_mib << 20;
  if (f.off_cpu && f.wall) {
    return report_error(kCmd, Error{"choose --off-cpu or --wall", 0,
                                    "  --wall already holds the off-CPU time beside the on-CPU "
                                    "samples"});
  }
  o.time_mode = f.wall      ? recording::TimeMode::wall
                : f.off_cpu ? recording::TimeMode::off_cpu
                            : recording::TimeMode::cpu;
  auto min_block = parse_min_block(f.min_block);
  if (!min_block) return report_error(kCmd, min_block.error());
  o.min_block_ns = *min_block;
  o.target.command = f.command;
  // -a (or -C) with a command samples every process on those CPUs for as long as it runs.
  o.target.system_wide_during_command = !f.command.empty() && (f.all_cpus || !o.cpus.empty());
  if (f.all_cpus && (!o.target.pids.empty() || !o.target.tid.empty())) {
    return report_error(kCmd, Error{"choose one target", 0,
                                    "  -a (every CPU, optionally while -- COMMAND runs), -p PID, "
                                    "-t TID or -- COMMAND, not several"});
  }
  // Fail before recording when the profile could not be written at the end.
  if (auto st = check_writable(f.output); !st) {
    Error e = st.error();
    if (e.errnum != 0) e.op = fmt::format("cannot write the profile to {}", f.output);
    e.hint += " (nothing was recorded)";
    return report_error(kCmd, e);
  }

  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  auto recorder = recording::Recorder::open(o, system::Capabilities::current());
  if (!recorder) return report_error(kCmd, recorder.error());
  for (const auto& note : recorder->notes()) fmt::print(stderr, "perfscope record: {}\n", note);
  if (o.target.command.empty() && o.target.pids.empty() && o.target.tid.empty() &&
      o.duration_s == 0) {
    fmt::print(stderr,
               "perfscope record: sampling every CPU at {} Hz until Ctrl-C (or use -d "
               "SECONDS)\n",
               o.frequency);
  }
  auto result = recorder->run(signals->stop_source());
  if (!result) return report_error(kCmd, result.error());
  for (const auto& note : result->notes) fmt::print(stderr, "perfscope record: {}\n", note);
  if (auto st = profile::write_pprof(result->profile, f.output); !st) {
    return report_error(kCmd, st.error());
  }
  for (const auto& line : recording::summarize(*result, f.output, process_cpu_seconds())) {
    fmt::print(stderr, "{}\n", line);
  }
  if (result->stop_signal != 0) return 128 + result->stop_signal;
  if (result->command_status != 0) {
    fmt::print(stderr, "perfscope record: the command exited with status {}\n",
               result->command_status);
  }
  return result->command_status;
}

}  // namespace

void add_record_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<RecordFlags>();
  recording::RecordOptions* o = &f->options;
  auto* c = app.add_subcommand(
      "record",
      "Sample where the CPUs spend their time and save a symbolized profile (pprof).\n"
      "Sampling frequency defaults to 99 Hz, not 100: a rate that divides the kernel's timer tick\n"
      "would sample in lockstep with periodic work and see only part of it.");
  c->add_option("-F,-f,--freq,--frequency", o->frequency,
                "Sampling frequency in Hz, per CPU (default 99 Hz)")
      ->capture_default_str();
  c->add_option("-c,--count", o->period,
                "Sample every COUNT events instead of at a frequency (e.g. -e sched:sched_switch "
                "-c 1 records every switch); -F is then ignored")
      ->check(CLI::PositiveNumber);
  // -d 0 would mean "no limit" inside the recorder: given on the command line it is a mistake.
  c->add_option("-d,--duration", o->duration_s,
                "Recording duration in seconds (default: until the command exits, or Ctrl-C)")
      ->check(positive_seconds());
  c->add_flag("-a,--all-cpus", f->all_cpus, "Sample every process on every CPU (system-wide)");
  c->add_option("-p,--pid", o->target.pids,
                "Sample these processes (comma list), with their threads")
      ->check(non_empty_target());
  c->add_option("-t,--tid", o->target.tid, "Sample this one thread")->check(non_empty_target());
  c->add_option("-C,--cpu", o->cpus, "Only these CPUs (e.g. 0-3,7)")->check(non_empty_target());
  c->add_option("-e,--event", o->event,
                "Event that drives sampling (default cpu-clock; a hardware event falls back to "
                "cpu-clock on machines without a PMU)")
      ->capture_default_str();
  c->add_flag("-g", f->call_graph_flag, "Record call chains (the default; see --call-graph)");
  c->add_option("--call-graph", f->call_graph,
                "How user stacks are captured: auto (cfi when the eBPF backend runs; else dwarf "
                "for a command or -p process whose binary lacks frame pointers, fp otherwise), "
                "cfi (eBPF: walk each module's .eh_frame, compiled into tables, in the kernel; "
                "frame pointers where a module has none), fp (frame pointers), dwarf[,BYTES] "
                "(copy BYTES of user stack per sample, default 16384, max 65528, and unwind it "
                "with .eh_frame/.debug_frame; perf ring buffers), or none")
      ->capture_default_str();
  c->add_option("-o,--output", f->output, "Profile file, gzipped pprof ('-' for standard output)")
      ->capture_default_str();
  c->add_flag("--no-kernel", o->no_kernel, "Leave kernel space out of samples and stacks");
  c->add_flag("--no-idle", o->no_idle,
              "Leave out samples of idle CPUs (the idle task, pid 0); the summary counts them");
  c->add_option("--backend", f->backend,
                "auto: eBPF in-kernel aggregation when allowed (root or CAP_BPF+CAP_PERFMON, "
                "kernel BTF), else perf ring buffers; bpf or perf to choose")
      ->capture_default_str();
  c->add_option("--bpf-stack-entries", o->bpf_stack_entries,
                "eBPF backend: stack map size per generation (collisions are counted); with "
                "--off-cpu/--wall, distinct off-CPU stacks per second (maps emptied each second)")
      ->capture_default_str();
  c->add_option("--bpf-count-entries", o->bpf_count_entries,
                "eBPF backend: distinct stacks per drain interval (1 s) before samples are lost")
      ->capture_default_str();
  c->add_option("--unwind-table-limit", f->unwind_table_limit_mib,
                "--call-graph cfi: MiB of unwind tables in BPF maps; past it the least recently "
                "sampled files are evicted (the summary counts them)")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  c->add_flag("--off-cpu", f->off_cpu,
              "Record where threads wait instead of where they run: the time each thread spends "
              "off the CPU, by stack and state (sleeping, blocked, runnable), in nanoseconds "
              "(eBPF, sched_switch)");
  c->add_flag("--wall", f->wall,
              "Record on-CPU samples and off-CPU time of the same threads in one profile, in "
              "nanoseconds, with a state label (on-cpu, sleeping, blocked, runnable) on each");
  c->add_option("--min-block", f->min_block,
                "--off-cpu/--wall: leave out off-CPU intervals shorter than this (ns, us, ms, s; "
                "a bare number is microseconds; they are counted in the summary)")
      ->capture_default_str();
  c->add_option("command", f->command, "Command to run and sample (after --)");
  c->footer(
      "Examples:\n"
      "  perfscope record -a -d 5                 every CPU for 5 seconds at 99 Hz\n"
      "  perfscope record -F 999 -- ./build/app   a command, until it exits\n"
      "  perfscope record -p 1234 -d 10 -o app.pb.gz\n"
      "  perfscope record --call-graph dwarf -- ./app   full stacks without frame pointers, no "
      "eBPF\n"
      "  perfscope record --off-cpu -- ./app       where ./app waits (sleeps, I/O, locks)\n"
      "  perfscope record --wall -p 1234 -d 10    on- and off-CPU time of one process\n"
      "Then: perfscope report -i perfscope.pb.gz");
  c->callback([f, &exit_code] { exit_code = run_record(*f); });
}

}  // namespace perfscope::cli
