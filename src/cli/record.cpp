// `perfscope record`: CPU sampling into a symbolized pprof profile (perf ring-buffer backend).
#include "cli/record.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <vector>

#include "bpf/profiler.hpp"
#include "cli/report_error.hpp"
#include "core/clock.hpp"
#include "core/files.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"
#include "profile/profile.hpp"
#include "profile/stack_quality.hpp"
#include "recording/profile_builder.hpp"
#include "sampling/background_decoder.hpp"
#include "sampling/collector.hpp"
#include "sampling/session.hpp"
#include "symbols/symbolizer.hpp"
#include "system/binary_check.hpp"
#include "system/capabilities.hpp"
#include "system/cpu_times.hpp"
#include "unwind/dwarf_unwinder.hpp"

namespace perfscope::cli {
namespace {

struct RecordOptions {
  unsigned frequency = 99;
  double duration_s = 0;  // 0: until the command exits, or Ctrl-C
  bool all_cpus = false;
  std::string pids;
  std::string tid;
  std::string cpus;
  std::string event = "cpu-clock";
  bool call_graph_flag = false;  // -g
  std::string call_graph = "auto";
  std::string output = "perfscope.pb.gz";
  bool no_kernel = false;
  bool no_idle = false;
  std::string backend = "auto";
  std::uint32_t bpf_stack_entries = 16384;
  std::uint32_t bpf_count_entries = 32768;
  std::vector<std::string> command;
};

// The side-band a BPF recording still needs from perf: MMAP2/COMM/FORK/EXIT records, carried by
// the dummy event (it counts nothing and never samples) on every CPU.
sampling::SamplingOptions side_band_options(const CpuSet& cpus) {
  sampling::SamplingOptions sb;
  sb.event = events::software_event("dummy", PERF_COUNT_SW_DUMMY);
  sb.frequency = 0;
  sb.period = 1;
  sb.callchain = false;
  sb.cpus = cpus;
  sb.ring_pages = 64;
  return sb;
}

double cpu_seconds(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// Fails before recording when the profile could not be written at the end.
Status check_output(const std::string& path) {
  if (path == "-") return {};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Error{fmt::format("output {} is a directory", path), 0,
                 "  give a file name: -o DIR/perfscope.pb.gz"};
  }
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return errno_error(fmt::format("cannot write the profile to {}", path),
                       "  choose a writable place with -o FILE (nothing was recorded)");
  }
  return {};
}

// SIGINT and SIGTERM, blocked and read through a descriptor the session's epoll watches, so an
// interrupted recording ends like a finished one: drained, symbolized, written.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &set_, &old_);
    fd_ = UniqueFd(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  ~StopSignals() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }
  int fd() const { return fd_.get(); }
  // The signal received, or 0.
  int take() {
    signalfd_siginfo info{};
    if (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      return static_cast<int>(info.ssi_signo);
    }
    return 0;
  }

 private:
  sigset_t set_{}, old_{};
  UniqueFd fd_;
};

bool pidfd_exited(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// --call-graph: how user stacks are captured.
struct CallGraph {
  enum class Mode { fp, dwarf, none, automatic } mode = Mode::automatic;
  std::uint32_t stack_bytes = 16384;  // DWARF: user stack bytes copied per sample
  std::string why;                    // for auto: what decided it
};

// The kernel copies at most 65528 bytes (a u16, rounded down to 8).
constexpr std::uint32_t kMaxStackCopy = 65528;

Result<CallGraph> parse_call_graph(const std::string& text) {
  CallGraph g;
  const auto comma = text.find(',');
  const std::string mode = text.substr(0, comma);
  if (mode == "fp") {
    g.mode = CallGraph::Mode::fp;
  } else if (mode == "dwarf") {
    g.mode = CallGraph::Mode::dwarf;
  } else if (mode == "none") {
    g.mode = CallGraph::Mode::none;
  } else if (mode == "auto") {
    g.mode = CallGraph::Mode::automatic;
  } else {
    return Error{fmt::format("unknown call-graph mode '{}'", mode), 0,
                 "  use --call-graph auto (the default), fp (frame pointers), dwarf[,BYTES] "
                 "(copy user stacks and unwind them with DWARF CFI) or none"};
  }
  if (comma == std::string::npos) return g;
  const std::string size = text.substr(comma + 1);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(size.c_str(), &end, 10);
  if (g.mode != CallGraph::Mode::dwarf) {
    return Error{fmt::format("--call-graph {} takes no size", mode), 0,
                 "  only dwarf copies stacks: --call-graph dwarf,32768"};
  }
  if (size.empty() || *end != '\0' || errno != 0 || n < 8 || n > kMaxStackCopy) {
    return Error{fmt::format("bad stack copy size '{}'", size), 0,
                 fmt::format("  give bytes from 8 to {} (the kernel's limit), e.g. --call-graph "
                             "dwarf,32768",
                             kMaxStackCopy)};
  }
  g.stack_bytes = static_cast<std::uint32_t>((n + 7) / 8 * 8);
  return g;
}

// --call-graph auto: DWARF for one program whose binary lacks frame pointers (doctor --binary's
// check), frame pointers otherwise; `binary` is that program's executable, empty system-wide.
void choose_call_graph(CallGraph& g, const std::string& binary, const std::string& shown,
                       bool bpf_chosen) {
  if (g.mode != CallGraph::Mode::automatic) return;
  g.mode = CallGraph::Mode::fp;
  if (bpf_chosen) {
    g.why = "auto: frame pointers, which --backend bpf walks in the kernel";
    return;
  }
  if (binary.empty()) {
    g.why = "auto: frame pointers system-wide (--call-graph dwarf to unwind every process)";
    return;
  }
  auto report = system::inspect_binary(binary);
  if (!report) {
    g.why = fmt::format("auto: frame pointers ({} could not be inspected)", shown);
    return;
  }
  if (report->frame_pointers()) {
    g.why = fmt::format("auto: {} keeps frame pointers ({} of {} sampled functions)", shown,
                        report->with_frame_pointer, report->functions_sampled);
    return;
  }
  g.mode = CallGraph::Mode::dwarf;
  g.why = fmt::format("auto: {} lacks frame pointers ({} of {} sampled functions set them up)",
                      shown, report->with_frame_pointer, report->functions_sampled);
}

const char* mode_name(CallGraph::Mode m) {
  switch (m) {
    case CallGraph::Mode::fp:
      return "fp";
    case CallGraph::Mode::dwarf:
      return "dwarf";
    case CallGraph::Mode::none:
      return "none";
    case CallGraph::Mode::automatic:
      return "auto";
  }
  return "";
}

// "2987 of 3000 samples (99.6%) unwound to the outermost frame; cut short: 13 stack copy too small
// (...)". The lines of the DWARF quality summary, shared by the terminal and the profile.
std::vector<std::string> unwind_summary(const unwind::UnwindStats& u) {
  std::vector<std::string> lines;
  if (u.samples == 0) return lines;
  const auto pct = [&](std::uint64_t n) {
    return 100.0 * static_cast<double>(n) / static_cast<double>(u.samples);
  };
  const std::uint64_t complete = u.count(unwind::StopReason::outermost);
  lines.push_back(fmt::format(
      "DWARF unwinding: {} of {} user stacks ({:.1f}%) reached the outermost frame, {:.1f} "
      "frames each on average",
      complete, u.samples, pct(complete),
      static_cast<double>(u.frames) / static_cast<double>(u.samples)));
  for (int r = 1; r < unwind::kStopReasonCount; ++r) {
    const auto reason = static_cast<unwind::StopReason>(r);
    const std::uint64_t n = u.count(reason);
    if (n == 0) continue;
    std::string detail;
    if (reason == unwind::StopReason::stack_too_small) {
      detail =
          u.stack_bytes_requested < kMaxStackCopy
              ? fmt::format(" ({} bytes copied; raise it: --call-graph dwarf,{})",
                            u.stack_bytes_requested,
                            std::min<std::uint64_t>(u.stack_bytes_requested * 4, kMaxStackCopy))
              : fmt::format(" ({} bytes copied, the kernel's limit)", u.stack_bytes_requested);
    } else if (reason == unwind::StopReason::no_unwind_info) {
      std::vector<std::pair<std::uint64_t, std::string>> worst;
      for (const auto& [module, count] : u.no_unwind_info_modules)
        worst.emplace_back(count, module);
      std::sort(worst.rbegin(), worst.rend());
      std::vector<std::string> names;
      for (std::size_t i = 0; i < worst.size() && i < 3; ++i) {
        names.push_back(fmt::format("{} {}", worst[i].second, worst[i].first));
      }
      detail = fmt::format(" (in {}{})", fmt::join(names, ", "), worst.size() > 3 ? ", ..." : "");
    }
    lines.push_back(
        fmt::format("  cut short: {} ({:.1f}%) {}{}", n, pct(n), unwind::describe(reason), detail));
  }
  return lines;
}

int run_record(const RecordOptions& o) {
  const char* cmd = "record";
  // --- check the request before touching the kernel --------------------------------------------
  // -a (or -C) with a command samples every process on those CPUs for as long as it runs.
  const bool system_wide_command = !o.command.empty() && (o.all_cpus || !o.cpus.empty());
  const int targets = (o.all_cpus ? 1 : 0) + (!o.pids.empty() ? 1 : 0) + (!o.tid.empty() ? 1 : 0) +
                      (!o.command.empty() && !system_wide_command ? 1 : 0);
  if (targets > 1) {
    return report_error(
        cmd, Error{"choose one target", 0,
                   "  -a (every CPU, optionally while -- COMMAND runs), -p PID, -t TID or "
                   "-- COMMAND, not several"});
  }
  if (o.frequency == 0) {
    return report_error(cmd, Error{"frequency must be at least 1 Hz", 0, "  e.g. -F 99"});
  }
  if (o.duration_s < 0 || !std::isfinite(o.duration_s)) {
    return report_error(cmd, Error{"duration must be positive", 0, "  e.g. -d 5 (seconds)"});
  }
  if (o.backend != "auto" && o.backend != "bpf" && o.backend != "perf") {
    return report_error(cmd, Error{fmt::format("unknown backend '{}'", o.backend), 0,
                                   "  use --backend auto, bpf (in-kernel aggregation) or perf "
                                   "(ring buffers)"});
  }
  for (auto [flag, value] : {std::pair{"--bpf-stack-entries", o.bpf_stack_entries},
                             std::pair{"--bpf-count-entries", o.bpf_count_entries}}) {
    if (value < 1 || value > (1U << 22)) {
      return report_error(cmd, Error{fmt::format("{} must be between 1 and 4194304", flag), 0,
                                     fmt::format("  e.g. {} 65536", flag)});
    }
  }
  auto call_graph = parse_call_graph(o.call_graph);
  if (!call_graph) return report_error(cmd, call_graph.error());
  if (auto st = check_output(o.output); !st) return report_error(cmd, st.error());

  const auto& caps = system::Capabilities::current();
  auto event = events::parse_event(o.event);
  if (!event) return report_error(cmd, event.error());
  auto cpus = process::choose_cpus(o.cpus);
  if (!cpus) return report_error(cmd, cpus.error());

  sampling::SamplingOptions so;
  so.event = *event;
  so.frequency = o.frequency;
  so.user_only = o.no_kernel;
  so.cpus = *cpus;

  sampling::Collector collector;
  collector.set_skip_idle(o.no_idle);
  std::optional<process::Workload> workload;
  std::vector<UniqueFd> pidfds;
  std::string subject;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return report_error(cmd, w.error());
    workload.emplace(std::move(*w));
    if (system_wide_command) {
      subject = fmt::format("system wide while '{}' ran", workload->command_line());
    } else {
      so.threads = {workload->pid()};
      so.enable_on_exec = true;
      subject = fmt::format("'{}'", workload->command_line());
    }
  } else if (!o.pids.empty()) {
    auto processes = process::process_targets(o.pids);
    if (!processes) return report_error(cmd, processes.error());
    so.threads = processes->threads;
    pidfds = std::move(processes->pidfds);
    for (pid_t pid : processes->pids) collector.processes().seed_from_proc(pid);
    subject = fmt::format("process {}", o.pids);
  } else if (!o.tid.empty()) {
    auto tids = process::parse_id_list(o.tid, "tid");
    if (!tids) return report_error(cmd, tids.error());
    if (tids->size() != 1) {
      return report_error(cmd, Error{"-t takes one thread id", 0, "  use -p PID for a process"});
    }
    const pid_t tid = tids->front();
    const long tgid = proc_status_field(tid, "Tgid:");
    if (tgid <= 0) {
      return report_error(
          cmd, Error{fmt::format("no thread with id {}", tid), 0, "  list threads with `ps -eLf`"});
    }
    so.threads = {tid};
    so.inherit = false;
    collector.processes().seed_from_proc(static_cast<pid_t>(tgid));
    subject = fmt::format("thread {}", tid);
  } else {
    subject = "system wide";
  }
  const bool system_wide = so.threads.empty();

  // --- call graph: frame pointers, or user stack copies unwound with DWARF CFI ----------------
  {
    std::string binary, shown;
    if (workload && !system_wide_command) {
      binary = find_on_path(o.command.front());
      shown = o.command.front();
    } else if (!system_wide) {
      binary = fmt::format("/proc/{}/exe", so.threads.front());
      shown = read_link(binary);
      if (shown.empty()) shown = binary;
    }
    choose_call_graph(*call_graph, binary, shown, o.backend == "bpf");
  }
  const bool dwarf = call_graph->mode == CallGraph::Mode::dwarf;
  so.callchain = call_graph->mode != CallGraph::Mode::none && !(dwarf && o.no_kernel);
  if (dwarf) {
    so.user_callchain = false;  // the kernel part comes from the kernel, the user part from CFI
    so.regs_user_mask = unwind::x86_64_sample_regs();
    so.stack_user_bytes = call_graph->stack_bytes;
  }

  // --- backend: eBPF in-kernel aggregation when allowed, perf ring buffers otherwise ----------
  std::string backend_reason;
  bool use_bpf = false;
  if (o.backend != "perf") {
    std::string why = bpf::unavailable_reason(caps);
    if (why.empty() && !o.tid.empty()) {
      why = "-t follows one thread, which the eBPF filter (by process) cannot";
    } else if (why.empty() && call_graph->mode == CallGraph::Mode::none) {
      why = "--call-graph none: the eBPF backend always aggregates by stack";
    } else if (why.empty() && dwarf) {
      why = "--call-graph dwarf copies user stacks, which only the perf ring buffers carry";
    }
    if (!why.empty() && o.backend == "bpf") {
      return report_error(
          cmd,
          Error{"the eBPF backend cannot run here", 0,
                fmt::format("  {}\n  or use --backend perf\n  more: perfscope doctor --need ebpf",
                            why)});
    }
    use_bpf = why.empty();
    backend_reason = why;
  }
  std::optional<bpf::Profiler> profiler;
  if (use_bpf) {
    bpf::ProfilerOptions bo;
    bo.event = so.event;
    bo.frequency = so.frequency;
    bo.cpus = so.cpus;
    bo.kernel_stacks = !so.user_only;
    bo.skip_idle = o.no_idle;
    bo.stack_entries = o.bpf_stack_entries;
    bo.count_entries = o.bpf_count_entries;
    if (!system_wide) {
      if (workload) {
        bo.targets = {workload->pid()};
      } else {
        for (pid_t tid : so.threads) {
          const long tgid = proc_status_field(tid, "Tgid:");
          if (tgid > 0 &&
              std::find(bo.targets.begin(), bo.targets.end(), tgid) == bo.targets.end()) {
            bo.targets.push_back(static_cast<pid_t>(tgid));
          }
        }
      }
    }
    auto p = bpf::Profiler::open(std::move(bo), caps);
    if (!p) {
      if (o.backend == "bpf") return report_error(cmd, p.error());
      backend_reason = fmt::format("loading failed: {}", p.error().message());
    } else {
      profiler.emplace(std::move(*p));
    }
  }

  auto session = sampling::Session::open(profiler ? side_band_options(so.cpus) : so, caps);
  if (!session) {
    Error e = session.error();
    if (system_wide && !o.all_cpus && (e.errnum == EACCES || e.errnum == EPERM)) {
      e.hint += "\n  or profile one of your own programs: perfscope record -- ./program ARGS";
    }
    return report_error(cmd, e);
  }
  for (const auto& note : session->notes()) fmt::print(stderr, "perfscope record: {}\n", note);
  if (profiler) {
    for (const auto& note : profiler->notes()) fmt::print(stderr, "perfscope record: {}\n", note);
  }

  // DWARF mode: records are copied out of the rings on this thread and decoded, unwound and
  // aggregated on another, so unwinding never holds up the ring reading.
  std::optional<unwind::DwarfUnwinder> unwinder;
  std::optional<sampling::BackgroundDecoder> background;
  if (dwarf && !profiler) {
    unwinder.emplace(unwind::UnwinderOptions{.regs_mask = session->attr().sample_regs_user});
    collector.set_unwinder(&*unwinder, session->attr().sample_stack_user);
    background.emplace(session->attr(), collector);
  }
  const auto poll_session = [&](int timeout_ms) {
    return background ? session->poll(timeout_ms, *background)
                      : session->poll(timeout_ms, collector);
  };
  const auto drain_session = [&] {
    if (background) {
      session->drain(*background);
    } else {
      session->drain(collector);
    }
  };

  StopSignals signals;
  if (auto st = session->watch(signals.fd()); !st) return report_error(cmd, st.error());
  if (workload) {
    const long fd = ::syscall(SYS_pidfd_open, workload->pid(), 0);
    if (fd >= 0) pidfds.emplace_back(static_cast<int>(fd));
  }
  for (const auto& fd : pidfds) {
    if (auto st = session->watch(fd.get()); !st) return report_error(cmd, st.error());
  }

  // --- record ----------------------------------------------------------------------------------
  rusage self_before{};
  ::getrusage(RUSAGE_SELF, &self_before);
  if (system_wide) collector.processes().seed_from_proc(-1);
  const auto cpu_times_start = system::read_cpu_times();
  const auto wall_start = std::chrono::system_clock::now();
  const double start = monotonic_seconds();
  if (profiler) {
    // Side-band first, so no exec or mmap of a sampled process is missed.
    if (auto st = session->enable(); !st) return report_error(cmd, st.error());
    if (auto st = profiler->start(); !st) return report_error(cmd, st.error());
  } else if (!so.enable_on_exec) {
    if (auto st = session->enable(); !st) return report_error(cmd, st.error());
  }
  if (workload) {
    if (auto st = workload->start(); !st) return report_error(cmd, st.error());
  }
  if (system_wide && !workload && o.duration_s == 0) {
    fmt::print(stderr,
               "perfscope record: sampling every CPU at {} Hz until Ctrl-C (or use -d SECONDS)\n",
               session->options().frequency);
  }

  int stop_signal = 0;
  bool targets_gone = false;
  // The in-kernel counts are drained once a second (and at the end), so the maps never have to
  // hold more than a second of distinct stacks. The side-band rings are read first: every exec or
  // mmap a drained sample depends on was written before it.
  const auto drain_bpf = [&]() -> Status {
    return profiler->drain(collector, [&] { session->drain(collector); });
  };
  double next_drain = start + 1.0;
  for (;;) {
    if (profiler && monotonic_seconds() >= next_drain) {
      if (auto st = drain_bpf(); !st) return report_error(cmd, st.error());
      next_drain = monotonic_seconds() + 1.0;
    }
    int timeout_ms = 250;
    if (o.duration_s > 0) {
      const double left = start + o.duration_s - monotonic_seconds();
      if (left <= 0) break;
      timeout_ms = std::min(timeout_ms, static_cast<int>(std::ceil(left * 1000)));
    }
    auto woken = poll_session(timeout_ms);
    if (!woken) return report_error(cmd, woken.error());
    // Without a pidfd (kernels before 5.3) the command's exit is noticed by polling.
    if (workload && pidfds.empty() && workload->try_reap()) break;
    if (!*woken) continue;
    if (int sig = signals.take(); sig != 0) {
      stop_signal = sig;
      break;
    }
    if (!pidfds.empty() && std::all_of(pidfds.begin(), pidfds.end(),
                                       [](const UniqueFd& fd) { return pidfd_exited(fd.get()); })) {
      targets_gone = true;
      break;
    }
  }
  const double elapsed = monotonic_seconds() - start;
  const auto cpu_times = system::cpu_times_between(cpu_times_start, system::read_cpu_times());
  if (profiler) profiler->stop();
  (void)session->disable();
  drain_session();
  if (profiler) {
    if (auto st = drain_bpf(); !st) return report_error(cmd, st.error());
  }
  // How long the end of recording waits for the unwinding thread to catch up.
  const double unwind_wait_start = monotonic_seconds();
  if (background) background->finish();
  const double unwind_wait_s = monotonic_seconds() - unwind_wait_start;
  collector.finish();
  rusage self_after{};
  ::getrusage(RUSAGE_SELF, &self_after);

  int exit_code = 0;
  double workload_cpu_s = -1;
  if (workload) {
    if (!workload->try_reap()) {
      // Recording ended first (duration, Ctrl-C): the command does not outlive its profile.
      if (!workload->end(stop_signal != 0 ? stop_signal : SIGTERM)) {
        fmt::print(stderr,
                   "perfscope record: {} (pid {}) was still running {} s after the signal; "
                   "killed it (SIGKILL)\n",
                   workload->command_line(), workload->pid(), process::Workload::kEndGraceSeconds);
      }
    }
    workload_cpu_s = cpu_seconds(workload->usage());
    if (stop_signal == 0) exit_code = workload->exit_code();
  }
  (void)targets_gone;

  // --- symbolize and save ----------------------------------------------------------------------
  sampling::SamplingOptions opened = session->options();
  if (profiler) {  // the session carried only side-band records
    opened.event = profiler->options().event;
    opened.frequency = profiler->options().frequency;
    opened.callchain = true;
    opened.user_only = !profiler->options().kernel_stacks;
  }
  const bpf::ProfilerStats bpf_stats = profiler ? profiler->stats() : bpf::ProfilerStats{};
  recording::ProfileInfo info;
  info.event = opened.event.display_name();
  info.time_based = events::is_time_based(opened.event);
  info.frequency = opened.frequency;
  info.time_nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count();
  info.duration_nanos = static_cast<std::int64_t>(elapsed * 1e9);
  std::string stacks_how = "no call chains";
  if (profiler || call_graph->mode == CallGraph::Mode::fp) {
    stacks_how = "frame-pointer call chains";
  } else if (dwarf) {
    stacks_how =
        fmt::format("DWARF-unwound user stacks ({}-byte copies){}", opened.stack_user_bytes,
                    opened.callchain ? " and kernel call chains" : "");
  }
  const std::string call_graph_line =
      fmt::format("{}{}", profiler ? "fp" : mode_name(call_graph->mode),
                  call_graph->why.empty() ? "" : fmt::format(" ({})", call_graph->why));
  info.comments.push_back(
      fmt::format("perfscope: record {} at {} Hz, {}", info.event, opened.frequency, stacks_how));
  info.comments.push_back(fmt::format("perfscope: call graph {}", call_graph_line));
  const std::vector<std::string> unwind_lines =
      unwinder ? unwind_summary(unwinder->stats()) : std::vector<std::string>{};
  for (const auto& line : unwind_lines) {
    const auto text = line.find_first_not_of(' ');
    info.comments.push_back("perfscope: " + line.substr(text));
  }
  info.comments.push_back(fmt::format("perfscope: target {}", subject));
  info.comments.push_back(fmt::format(
      "perfscope: backend {}", profiler ? "bpf (in-kernel aggregation)" : "perf (ring buffers)"));
  for (const auto& note : session->notes()) info.comments.push_back("perfscope: " + note);
  if (profiler) {
    for (const auto& note : profiler->notes()) info.comments.push_back("perfscope: " + note);
  }
  const std::uint64_t dropped = background ? background->dropped_samples() : 0;
  const std::uint64_t lost = profiler
                                 ? bpf_stats.counts_full
                                 : collector.lost_records() + collector.lost_samples() + dropped;
  info.comments.push_back(fmt::format("perfscope: lost {} samples", lost));
  if (!profiler) {  // a BPF program never sees the throttling of the events it is attached to
    info.comments.push_back(fmt::format("perfscope: throttled {} times", collector.throttled()));
  }

  symbols::Symbolizer symbolizer;
  recording::BuildStats built;
  const double symbolize_start = monotonic_seconds();
  auto profile = recording::build_profile(collector, symbolizer, info, &built);
  const double symbolize_s = monotonic_seconds() - symbolize_start;
  const profile::StackReach reach = profile::user_stack_reach(profile);
  std::string reach_line;
  if (reach.with_user_stack > 0) {
    reach_line = fmt::format(
        "user stacks reaching main or a thread start: {:.1f}% ({} of {} samples with a user "
        "stack)",
        100.0 * static_cast<double>(reach.reaching_root) /
            static_cast<double>(reach.with_user_stack),
        reach.reaching_root, reach.with_user_stack);
    profile.add_comment("perfscope: " + reach_line);
  }
  if (auto st = profile::write_pprof(profile, o.output); !st) return report_error(cmd, st.error());
  rusage self_end{};
  ::getrusage(RUSAGE_SELF, &self_end);

  // --- summary (seed 001's lines first) --------------------------------------------------------
  std::FILE* out = o.output == "-" ? stderr : stdout;
  const std::uint64_t total = collector.samples();
  if (stop_signal != 0) {
    fmt::print(out, "Stopped by {} after {:.2f} s; the profile is complete up to then.\n",
               strsignal(stop_signal), elapsed);
  }
  fmt::print(out, "Collected {} samples in {:.2f} s ({}, {} at {} Hz{})\n", total, elapsed, subject,
             info.event, opened.frequency, opened.user_only ? ", user space only" : "");
  // An idle CPU may take no cpu-clock samples at all (seen on 6.x kernels in VMs, where perf
  // record -a shows the same), so each CPU's idle share is printed beside its count.
  std::vector<int> idle_cpus;
  for (int cpu : opened.cpus) {
    auto it = collector.samples_per_cpu().find(static_cast<std::uint32_t>(cpu));
    const std::uint64_t n = it == collector.samples_per_cpu().end() ? 0 : it->second;
    auto t = cpu_times.find(cpu);
    if (system_wide && t != cpu_times.end() && t->second.total() > 0) {
      const double idle = t->second.idle_s / t->second.total();
      const double per_cpu = static_cast<double>(opened.frequency) * elapsed;
      if (idle >= 0.5 && static_cast<double>(n) < 0.5 * per_cpu) idle_cpus.push_back(cpu);
      fmt::print(out, "CPU {}: {} samples (idle {:.0f}%)\n", cpu, n, 100.0 * idle);
    } else {
      fmt::print(out, "CPU {}: {} samples\n", cpu, n);
    }
  }
  if (info.time_based && system_wide && elapsed > 0) {
    const double expected =
        static_cast<double>(opened.frequency) * elapsed * static_cast<double>(opened.cpus.size());
    fmt::print(out,
               "Sample rate: {:.1f}% of expected ({} Hz x {:.2f} s x {} CPUs = {:.0f} expected)\n",
               100.0 * static_cast<double>(total) / expected, opened.frequency, elapsed,
               opened.cpus.size(), expected);
    if (static_cast<double>(total) < 0.9 * expected && !idle_cpus.empty()) {
      fmt::print(out,
                 "Note: {} {} {} idle most of the time and took few samples: the kernel may skip "
                 "cpu-clock samples on an idle CPU, so the rate is only meaningful for busy CPUs\n",
                 idle_cpus.size() == 1 ? "CPU" : "CPUs", fmt::join(idle_cpus, ", "),
                 idle_cpus.size() == 1 ? "was" : "were");
    }
  } else if (info.time_based && !system_wide && workload_cpu_s > 0) {
    const double expected = static_cast<double>(opened.frequency) * workload_cpu_s;
    fmt::print(
        out,
        "Sample rate: {:.1f}% of expected ({} Hz x {:.2f} s of the command's CPU time = {:.0f} "
        "expected)\n",
        100.0 * static_cast<double>(total) / expected, opened.frequency, workload_cpu_s, expected);
  }
  if (profiler) {
    fmt::print(out,
               "Lost: {} (BPF counts map full), {} (side-band ring buffer full); "
               "throttled: not visible to BPF\n",
               plural(bpf_stats.counts_full, "sample", "samples"),
               plural(collector.lost_records(), "record", "records"));
    fmt::print(out,
               "Stacks not captured: kernel {} (map collision) + {} (error), user {} (map "
               "collision) + {} (unreadable); --bpf-stack-entries {} per generation\n",
               bpf_stats.kernel_stack_collisions, bpf_stats.kernel_stack_errors,
               bpf_stats.user_stack_collisions, bpf_stats.user_stack_errors,
               profiler->options().stack_entries);
  } else {
    fmt::print(out, "Lost: {} (ring buffer full), {} (dropped by the kernel); throttled {}\n",
               plural(collector.lost_records(), "sample", "samples"),
               plural(collector.lost_samples(), "sample", "samples"),
               plural(collector.throttled(), "time", "times"));
  }
  if (dropped > 0) {
    fmt::print(out, "Dropped: {} while the unwinding thread was {} MiB behind\n",
               plural(dropped, "sample", "samples"), background->peak_queued_bytes() >> 20);
  }
  fmt::print(out, "Call graph: {}\n", call_graph_line);
  for (const auto& line : unwind_lines) fmt::print(out, "{}\n", line);
  if (unwinder && unwinder->stats().samples > 0) {
    const auto& u = unwinder->stats();
    const double unwind_s = static_cast<double>(u.cpu_ns) / 1e9;
    fmt::print(out,
               "Unwinding: {} stacks in {:.3f} s of CPU on its own thread ({:.0f} stacks/s; "
               "waited {:.3f} s for it at the end); {} modules, {} CFI rules cached\n",
               u.samples, unwind_s, unwind_s > 0 ? static_cast<double>(u.samples) / unwind_s : 0.0,
               unwind_wait_s, unwinder->modules_opened(), unwinder->rules_cached());
  }
  if (!reach_line.empty()) {
    reach_line[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(reach_line[0])));
    fmt::print(out, "{}\n", reach_line);
  }
  if (o.no_idle) {
    fmt::print(out, "Idle: {} of the idle task left out (--no-idle)\n",
               plural(profiler ? bpf_stats.idle : collector.idle_skipped(), "sample", "samples"));
  }
  if (profiler) {
    fmt::print(out, "Backend: bpf (in-kernel aggregation; {} samples counted in the kernel)\n",
               bpf_stats.samples);
  } else if (backend_reason.empty() || o.backend == "perf") {
    fmt::print(out, "Backend: perf (ring buffers)\n");
  } else {
    fmt::print(out, "Backend: perf (ring buffers), as eBPF cannot run here: {}\n", backend_reason);
  }
  const std::uint64_t unreadable = session->stats().decode_errors + session->stats().ring_errors +
                                   (background ? background->decode_errors() : 0);
  if (unreadable > 0) {
    fmt::print(out, "Unreadable records: {} ({})\n", unreadable,
               background && !background->last_error().empty() ? background->last_error()
                                                               : session->last_error());
  }
  fmt::print(out, "Wrote {} ({} stacks, {} addresses, {} unresolved; symbolized in {:.2f} s)\n",
             o.output == "-" ? "profile to standard output" : o.output, built.stacks,
             built.addresses, built.unknown, symbolize_s);
  const double recording_cpu = cpu_seconds(self_after) - cpu_seconds(self_before);
  fmt::print(out,
             "perfscope CPU time: {:.3f} s while recording ({:.2f} ms per 1,000 samples), {:.3f} s "
             "in total\n",
             recording_cpu, total > 0 ? recording_cpu * 1e6 / static_cast<double>(total) : 0.0,
             cpu_seconds(self_end));
  if (workload && stop_signal == 0 && exit_code != 0) {
    fmt::print(stderr, "perfscope record: the command exited with status {}\n", exit_code);
  }
  return stop_signal != 0 ? 128 + stop_signal : exit_code;
}

}  // namespace

void add_record_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RecordOptions>();
  auto* c = app.add_subcommand(
      "record",
      "Sample where the CPUs spend their time and save a symbolized profile (pprof).\n"
      "Sampling frequency defaults to 99 Hz, not 100: a rate that divides the kernel's timer tick\n"
      "would sample in lockstep with periodic work and see only part of it.");
  c->add_option("-F,-f,--freq,--frequency", o->frequency,
                "Sampling frequency in Hz, per CPU (default 99 Hz)")
      ->capture_default_str();
  c->add_option("-d,--duration", o->duration_s,
                "Recording duration in seconds (default: until the command exits, or Ctrl-C)");
  c->add_flag("-a,--all-cpus", o->all_cpus, "Sample every process on every CPU (system-wide)");
  c->add_option("-p,--pid", o->pids, "Sample these processes (comma list), with their threads");
  c->add_option("-t,--tid", o->tid, "Sample this one thread");
  c->add_option("-C,--cpu", o->cpus, "Only these CPUs (e.g. 0-3,7)");
  c->add_option("-e,--event", o->event,
                "Event that drives sampling (default cpu-clock; a hardware event falls back to "
                "cpu-clock on machines without a PMU)")
      ->capture_default_str();
  c->add_flag("-g", o->call_graph_flag, "Record call chains (the default; see --call-graph)");
  c->add_option("--call-graph", o->call_graph,
                "How user stacks are captured: auto (dwarf for a command or -p process whose "
                "binary lacks frame pointers, fp otherwise), fp (frame pointers), dwarf[,BYTES] "
                "(copy BYTES of user stack per sample, default 16384, max 65528, and unwind it "
                "with .eh_frame/.debug_frame), or none")
      ->capture_default_str();
  c->add_option("-o,--output", o->output, "Profile file, gzipped pprof ('-' for standard output)")
      ->capture_default_str();
  c->add_flag("--no-kernel", o->no_kernel, "Leave kernel space out of samples and stacks");
  c->add_flag("--no-idle", o->no_idle,
              "Leave out samples of idle CPUs (the idle task, pid 0); the summary counts them");
  c->add_option("--backend", o->backend,
                "auto: eBPF in-kernel aggregation when allowed (root or CAP_BPF+CAP_PERFMON, "
                "kernel BTF), else perf ring buffers; bpf or perf to choose")
      ->capture_default_str();
  c->add_option("--bpf-stack-entries", o->bpf_stack_entries,
                "eBPF backend: stack map size per generation (collisions are counted)")
      ->capture_default_str();
  c->add_option("--bpf-count-entries", o->bpf_count_entries,
                "eBPF backend: distinct stacks per drain interval (1 s) before samples are lost")
      ->capture_default_str();
  c->add_option("command", o->command, "Command to run and sample (after --)");
  c->footer(
      "Examples:\n"
      "  perfscope record -a -d 5                 every CPU for 5 seconds at 99 Hz\n"
      "  perfscope record -F 999 -- ./build/app   a command, until it exits\n"
      "  perfscope record -p 1234 -d 10 -o app.pb.gz\n"
      "  perfscope record --call-graph dwarf -- ./app   full stacks without frame pointers\n"
      "Then: perfscope report -i perfscope.pb.gz");
  c->callback([o, &exit_code] { exit_code = run_record(*o); });
}

}  // namespace perfscope::cli
