// `perfscope mem`: heap profiling of a command through the LD_PRELOAD tracker
// (preload/libperfscope-heap.so), interpreted as it streams in (heap/analysis.hpp).
#include "cli/mem.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cli/report_error.hpp"
#include "core/files.hpp"
#include "core/output_file.hpp"
#include "core/unique_fd.hpp"
#include "heap/analysis.hpp"
#include "heap/heap_profile.hpp"
#include "heap/text_report.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/heap_timeline.hpp"
#include "output/stack_tree.hpp"
#include "preload/heap_wire.hpp"
#include "process/workload.hpp"
#include "profile/profile.hpp"
#include "symbols/symbolizer.hpp"
#include "system/binary_check.hpp"

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
  std::size_t top = 10;
  std::vector<std::string> command;
};

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The preload: PERFSCOPE_HEAP_LIB, else beside the perfscope binary (the build tree), else in
// ../lib/perfscope/ (an installed tree).
Result<std::string> find_preload() {
  if (const char* env = std::getenv("PERFSCOPE_HEAP_LIB"); env != nullptr && *env != '\0') {
    if (::access(env, R_OK) == 0) return std::string(env);
    return Error{fmt::format("PERFSCOPE_HEAP_LIB={} cannot be read", env), errno,
                 "  point it at libperfscope-heap.so, or unset it"};
  }
  const std::string exe = read_link("/proc/self/exe");
  const std::string dir = exe.substr(0, exe.rfind('/'));
  for (const std::string& candidate :
       {dir + "/libperfscope-heap.so", dir + "/../lib/perfscope/libperfscope-heap.so"}) {
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return Error{fmt::format("libperfscope-heap.so not found beside {}", exe), 0,
               "  build it (cmake --build build builds it next to perfscope), or set "
               "PERFSCOPE_HEAP_LIB=/path/to/libperfscope-heap.so"};
}

// --unwind auto: frame pointers when the program keeps them, else libgcc's DWARF unwinder, which
// is slower per allocation but right. Doctor's prologue check decides, with a lower bar than
// record's 80%: the C runtime's stubs and hand-written assembly lack frame pointers in any build,
// and a small program built with -fno-omit-frame-pointer can have a quarter of those.
std::string choose_unwind(const MemOptions& o, std::string& why) {
  if (o.unwind != "auto") {
    why = o.unwind == "fp" ? "frame pointers (asked)" : "DWARF (asked)";
    return o.unwind;
  }
  const std::string program = o.command.front();
  const std::string path = program.find('/') != std::string::npos ? program : find_on_path(program);
  auto report = path.empty() ? Result<system::BinaryReport>(Error{"not found", 0, {}})
                             : system::inspect_binary(path);
  if (!report) {
    why = fmt::format("auto: {} could not be inspected", program);
    return "dwarf";
  }
  const bool fp =
      report->functions_sampled > 0 && report->with_frame_pointer * 2 > report->functions_sampled;
  why = fmt::format("auto: {} {} frame pointers ({} of {} sampled functions set them up)", program,
                    fp ? "keeps" : "lacks", report->with_frame_pointer, report->functions_sampled);
  if (fp) return "fp";
  return "dwarf";
}

// Sets the environment the command inherits. LD_PRELOAD keeps what the user had, after ours.
void set_child_environment(const std::string& lib, int fd, std::uint64_t inode,
                           const std::string& unwind) {
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    preload += ':';
    preload += old;
  }
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  ::setenv(heap_wire::kEnvFd, fmt::format("{}:{}", fd, inode).c_str(), 1);
  ::setenv(heap_wire::kEnvUnwind, unwind.c_str(), 1);
}

int run_mem(const MemOptions& o) {
  if (!o.pid.empty()) {
    return report_error(kCmd,
                        Error{"-p is not supported: the tracker is injected with "
                              "LD_PRELOAD when the program starts",
                              0, "  run the program under perfscope: perfscope mem -- CMD ARGS"});
  }
  if (o.command.empty()) {
    return report_error(kCmd, Error{"no command to run", 0,
                                    "  give one after --: perfscope mem -- ./myprogram ARGS"});
  }
  if (o.unwind != "auto" && o.unwind != "fp" && o.unwind != "dwarf") {
    return report_error(kCmd, Error{fmt::format("unknown --unwind '{}'", o.unwind), 0,
                                    "  choose auto, fp (frame pointers) or dwarf"});
  }
  static constexpr const char* kTypes[] = {"alloc_objects",    "alloc_space",    "inuse_objects",
                                           "inuse_space",      "leaked_objects", "leaked_space",
                                           "temporary_objects"};
  std::size_t flame_index = std::size(kTypes);
  for (std::size_t i = 0; i < std::size(kTypes); ++i) {
    if (o.flamegraph_type == kTypes[i]) flame_index = i;
  }
  if (flame_index == std::size(kTypes)) {
    return report_error(kCmd,
                        Error{fmt::format("unknown --flamegraph-type '{}'", o.flamegraph_type), 0,
                              "  choose alloc_objects, alloc_space, inuse_objects, "
                              "inuse_space, leaked_objects, leaked_space or "
                              "temporary_objects"});
  }
  auto lib = find_preload();
  if (!lib) return report_error(kCmd, lib.error());
  // Open every output before the run: a bad path fails now, not after a long run. The profile's
  // own OutputFile is only that check (write_pprof writes it atomically itself).
  auto profile_out = OutputFile::open(o.output);
  if (!profile_out) return report_error(kCmd, profile_out.error());
  std::optional<OutputFile> report_out, timeline_out, flame_out;
  for (auto [path, slot] : {std::pair{&o.report, &report_out},
                            {&o.timeline, &timeline_out},
                            {&o.flamegraph, &flame_out}}) {
    if (path->empty() && slot != &report_out) continue;
    auto f = OutputFile::open(*path);
    if (!f) return report_error(kCmd, f.error());
    slot->emplace(std::move(*f));
  }

  std::string why;
  const std::string unwind = choose_unwind(o, why);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return report_error(kCmd, errno_error("pipe2"));
  UniqueFd read_end(fds[0]);
  UniqueFd cloexec_write(fds[1]);
  // A bigger pipe lets the program run ahead of us (1 MiB is what an unprivileged user may ask).
  ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  // The child's copy: not close-on-exec, numbered high so the program's own fds do not collide.
  UniqueFd write_end(::fcntl(fds[1], F_DUPFD, 200));
  if (!write_end) return report_error(kCmd, errno_error("fcntl(F_DUPFD)"));
  cloexec_write.reset();
  struct stat st {};
  ::fstat(write_end.get(), &st);
  set_child_environment(*lib, write_end.get(), st.st_ino, unwind);

  auto workload = process::Workload::prepare(o.command);
  if (!workload) return report_error(kCmd, workload.error());
  write_end.reset();  // from now on only the traced processes hold the write end
  ::unsetenv("LD_PRELOAD");

  // Ctrl-C reaches the command (same process group); we keep reading until it is done, so the
  // profile is complete.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGQUIT, &ignore, &old_quit);

  heap::HeapAnalysis analysis;
  analysis.set_command_pid(workload->pid());
  const std::int64_t wall_start = clock_ns(CLOCK_REALTIME);
  const std::int64_t mono_start = clock_ns(CLOCK_MONOTONIC);
  if (auto s = workload->start(); !s) return report_error(kCmd, s.error());

  std::string buffer(1 << 20, '\0');
  std::optional<Error> stream_error;
  std::int64_t quiet_since = 0;
  for (;;) {
    pollfd pfd{read_end.get(), POLLIN, 0};
    const int r = ::poll(&pfd, 1, 200);
    if (r < 0 && errno != EINTR) {
      stream_error = errno_error("poll");
      break;
    }
    if (r > 0) {
      const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
      if (n == 0) break;  // every traced process is gone
      if (n > 0) {
        quiet_since = 0;
        if (auto s = analysis.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
            !s) {
          stream_error = s.error();
          break;
        }
        continue;
      }
    }
    // The command exited but something it started still holds the pipe: give it a second of
    // silence, then stop (the report says those processes were cut short).
    if (workload->try_reap()) {
      const std::int64_t now = clock_ns(CLOCK_MONOTONIC);
      if (quiet_since == 0) quiet_since = now;
      if (now - quiet_since > 1'000'000'000) break;
    }
  }
  if (!workload->exited()) workload->reap();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  const int command_status = workload->exit_code();
  if (stream_error) return report_error(kCmd, *stream_error);

  auto images = analysis.finish();
  if (images.empty()) {
    return report_error(
        kCmd, Error{fmt::format("{} made no allocation events", o.command.front()), 0,
                    "  the program did not load libperfscope-heap.so: it is statically linked, "
                    "setuid, or clears LD_PRELOAD (perfscope mem follows a program only where "
                    "LD_PRELOAD reaches)"});
  }

  symbols::Symbolizer symbolizer;
  heap::HeapProfileInfo info;
  for (const auto& arg : o.command)
    info.command_line += (info.command_line.empty() ? "" : " ") + arg;
  info.time_nanos = wall_start;
  info.duration_nanos = clock_ns(CLOCK_MONOTONIC) - mono_start;
  std::vector<std::vector<std::int64_t>> sample_of_site;
  auto profile = heap::build_heap_profile(images, symbolizer, info, &sample_of_site);
  profile.add_comment("stacks: " + why);

  // The report: headline numbers, the command's timeline, the tables.
  std::string text = fmt::format("perfscope mem: {} (stacks: {})\n", info.command_line, why);
  const heap::ProcessImage& main_image = images.front();
  output::HeapTimeline timeline;
  for (const auto& point : main_image.timeline)
    timeline.points.push_back({point.time_ns, point.bytes});
  timeline.peak_bytes = static_cast<std::int64_t>(main_image.peak_bytes);
  timeline.peak_time_ns = main_image.peak_time_ns;
  timeline.end_time_ns = static_cast<std::int64_t>(main_image.end_ns - main_image.start_ns);
  output::TimelineOptions topts;
  topts.title = fmt::format("Heap of pid {} over time", main_image.pid);
  if (auto chart = output::heap_timeline_ascii(timeline, topts); chart) {
    text += "\n" + *chart + "\n";
  }
  text += heap::heap_text_report(images, profile, sample_of_site, {.top = o.top});

  if (auto s = profile::write_pprof(profile, o.output); !s) return report_error(kCmd, s.error());
  if (timeline_out) {
    auto svg = output::heap_timeline_svg(timeline, topts);
    if (!svg) return report_error(kCmd, svg.error());
    std::fwrite(svg->data(), 1, svg->size(), timeline_out->stream());
    if (auto s = timeline_out->commit(); !s) return report_error(kCmd, s.error());
  }
  if (flame_out) {
    auto tree = output::tree_from_profile(profile, {.value_index = flame_index});
    if (!tree) return report_error(kCmd, tree.error());
    output::SvgOptions svg_options;
    svg_options.title = fmt::format("{}: {}", o.flamegraph_type, info.command_line);
    svg_options.palette = output::Palette::mem;
    svg_options.unit =
        flame_index == 1 || flame_index == 3 || flame_index == 5 ? "bytes" : "blocks";
    auto svg = output::flamegraph_svg(*tree, svg_options);
    if (!svg) return report_error(kCmd, svg.error());
    std::fwrite(svg->data(), 1, svg->size(), flame_out->stream());
    if (auto s = flame_out->commit(); !s) return report_error(kCmd, s.error());
  }
  std::fwrite(text.data(), 1, text.size(), report_out->stream());
  if (auto s = report_out->commit(); !s) return report_error(kCmd, s.error());
  return command_status;
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
                "Not supported: the tracker must be preloaded when the program starts");
  c->add_option("command", o->command, "Command to run (after --)");
  c->footer(
      "The program runs with libperfscope-heap.so in LD_PRELOAD; fork children are followed as\n"
      "separate processes, and so are programs they exec while LD_PRELOAD survives (a static or\n"
      "setuid program, or one that clears the environment, is not followed). Attaching to a\n"
      "running process (-p) is not supported. The exit status is the command's.\n"
      "Examples:\n"
      "  perfscope mem -- ./myprogram ARGS\n"
      "  perfscope mem --timeline heap.svg --flamegraph peak.svg -- ./myprogram\n"
      "  perfscope mem --report heap.txt -o heap.pb.gz -- ./myprogram\n"
      "  perfscope flamegraph -i heap.pb.gz --sample-type alloc_space -o alloc.svg");
  c->callback([o, &exit_code] { exit_code = run_mem(*o); });
}

}  // namespace perfscope::cli
