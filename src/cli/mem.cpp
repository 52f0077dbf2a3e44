// `perfscope mem`: heap profiling of a command through the LD_PRELOAD tracker. The run is
// heap::Tracker's; this file parses flags, passes signals on through the tracker and writes what
// it returns.
#include "cli/mem.hpp"

#include <signal.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "heap/run_views.hpp"
#include "heap/tracker.hpp"
#include "process/signal_watch.hpp"
#include "profile/profile.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "mem";

struct MemOptions {
  std::string output = "perfscope-heap.pb.gz";
  std::string report;  // empty: standard error
  std::string timeline;
  std::string flamegraph;
  std::string flamegraph_type = "inuse_space";
  std::string unwind = "auto";
  std::string pid;
  double duration = 0;
  std::size_t top = 10;
  std::vector<std::string> command;
};

Status write_results(const MemOptions& o, const heap::TrackResult& run, heap::HeapValue flame) {
  if (auto s = profile::write_pprof(run.profile, o.output); !s) return s;
  if (!o.timeline.empty()) {
    auto svg = heap::run_timeline_svg(run);
    if (!svg) return svg.error();
    if (auto s = write_output_file(o.timeline, *svg); !s) return s;
  }
  if (!o.flamegraph.empty()) {
    auto svg = heap::run_flamegraph_svg(run, flame);
    if (!svg) return svg.error();
    if (auto s = write_output_file(o.flamegraph, *svg); !s) return s;
  }
  auto report = OutputFile::open(o.report);
  if (!report) return report.error();
  const std::string text = heap::run_report_text(run, {.top = o.top});
  std::fwrite(text.data(), 1, text.size(), report->stream());
  return report->commit();
}

// -p's value: one process id.
Result<pid_t> parse_pid(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v <= 0 || v > 0x3fffffff) {
    return Error{fmt::format("-p '{}' is not a process id", text), 0,
                 "  give one pid (mem attaches to one process): perfscope mem -p 1234"};
  }
  return static_cast<pid_t>(v);
}

int run_mem(const MemOptions& o) {
  pid_t attach = 0;
  if (!o.pid.empty()) {
    auto pid = parse_pid(o.pid);
    if (!pid) return report_error(kCmd, pid.error());
    attach = *pid;
  } else if (o.duration > 0) {
    return report_error(kCmd, Error{"-d is for -p", 0,
                                    "  a command runs until it exits: perfscope mem -p PID -d 10"});
  }
  if (o.duration < 0) {
    return report_error(kCmd, Error{"-d must be a positive number of seconds", 0, {}});
  }
  if (o.command.empty() && attach == 0) {
    return report_error(kCmd, Error{"no command to run", 0,
                                    "  give one after --: perfscope mem -- ./myprogram ARGS"});
  }
  auto unwind = heap::parse_unwind(o.unwind);
  if (!unwind) return report_error(kCmd, unwind.error());
  auto flame = heap::parse_heap_value(o.flamegraph_type);
  if (!flame) return report_error(kCmd, flame.error());
  // A path that cannot be written fails now, and nothing is created yet: every file is written
  // once the result exists, so a run cut short leaves no temporary file behind.
  for (const std::string* path : {&o.output, &o.report, &o.timeline, &o.flamegraph}) {
    if (auto s = check_writable(*path); !s) return report_error(kCmd, s.error());
  }

  // Signals become stop requests from here on: the command gets them, and the report is written.
  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  auto tracker = heap::Tracker::open({
      .command = o.command,
      .attach_pid = attach,
      .duration_s = o.duration,
      .on_attached =
          [&o](pid_t pid) {
            fmt::print(stderr, "perfscope mem: attached to pid {}; {} detaches\n", pid,
                       o.duration > 0 ? fmt::format("{} s or Ctrl-C", o.duration) : "Ctrl-C");
          },
      .unwind = *unwind,
      .preload_library = {},
  });
  if (!tracker) return report_error(kCmd, tracker.error());
  auto run = tracker->run(signals->stop_source());
  if (!run) return report_error(kCmd, run.error());

  const Status written = write_results(o, *run, *flame);
  for (const auto& note : run->notes) fmt::print(stderr, "perfscope mem: {}\n", note);
  if (!written) return report_error(kCmd, written.error());
  if (attach != 0) return 0;  // detaching on Ctrl-C is the normal end; the process runs on
  return run->stop_signal != 0 ? 128 + run->stop_signal : run->command_status;
}

}  // namespace

void add_mem_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MemOptions>();
  auto* c = app.add_subcommand(
      "mem",
      "Profile a command's heap: peak and what held it, allocation sites, temporary "
      "allocations, leaks, heap over time");
  c->add_option("-o,--output", o->output,
                "Heap profile, gzipped pprof (alloc_objects, alloc_space, inuse_objects, "
                "inuse_space at the peak, leaked_*, temporary_objects)")
      ->capture_default_str();
  c->add_option("--report", o->report,
                "Write the text report to FILE ('-' for standard output; default: standard "
                "error, so the program's output is untouched)");
  c->add_option("--timeline", o->timeline, "Also draw the heap over time as an SVG chart");
  c->add_option("--flamegraph", o->flamegraph, "Also draw an allocation flame graph (SVG)");
  c->add_option("--flamegraph-type", o->flamegraph_type,
                "What the flame graph weighs: inuse_space (at the peak), alloc_space, "
                "alloc_objects, leaked_space, leaked_objects, inuse_objects, temporary_objects")
      ->capture_default_str();
  c->add_option("--unwind", o->unwind,
                "How stacks are captured: fp (frame pointers: fast), dwarf (libgcc's unwinder: "
                "right without frame pointers, slower), auto (fp when the program keeps them)")
      ->capture_default_str();
  c->add_option("--top", o->top, "Rows per table in the report (0: all)")->capture_default_str();
  c->add_option("-p,--pid", o->pid,
                "Attach to a running process instead: track its allocations from now until it "
                "exits, -d passes or Ctrl-C (which detaches and leaves it running)");
  c->add_option("-d,--duration", o->duration, "With -p: detach after this many seconds");
  c->add_option("command", o->command, "Command to run (after --)");
  c->footer(
      "The program runs with libperfscope-heap.so in LD_PRELOAD; fork children are followed as\n"
      "separate processes, and so are programs they exec while LD_PRELOAD survives (a static or\n"
      "setuid program, or one that clears the environment, is not followed). The exit status\n"
      "is the command's. With -p, the tracker is loaded into the running process through\n"
      "ptrace (as heaptrack -p does) and the report covers what it allocated since; blocks from\n"
      "before that it frees are counted as such, and leaks are not classed.\n"
      "Examples:\n"
      "  perfscope mem -- ./myprogram ARGS\n"
      "  perfscope mem -p 1234 -d 30 --report heap.txt\n"
      "  perfscope mem --timeline heap.svg --flamegraph peak.svg -- ./myprogram\n"
      "  perfscope mem --report heap.txt -o heap.pb.gz -- ./myprogram\n"
      "  perfscope flamegraph -i heap.pb.gz --sample-type alloc_space -o alloc.svg");
  c->callback([o, &exit_code] { exit_code = run_mem(*o); });
}

}  // namespace perfscope::cli
