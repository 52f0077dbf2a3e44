#include "recording/recorder.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/clock.hpp"
#include "core/files.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"
#include "profile/stack_quality.hpp"
#include "recording/profile_builder.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::recording {

Result<BackendChoice> parse_backend(const std::string& text) {
  if (text == "auto") return BackendChoice::automatic;
  if (text == "bpf") return BackendChoice::bpf;
  if (text == "perf") return BackendChoice::perf;
  return Error{fmt::format("unknown backend '{}'", text), 0,
               "  use --backend auto, bpf (in-kernel aggregation) or perf (ring buffers)"};
}

// The processes and command a recording follows, resolved at open().
struct Recorder::Held {
  std::optional<process::Workload> workload;
  std::vector<UniqueFd> pidfds;  // -p processes, and the command's
  std::vector<pid_t> seed_pids;  // processes whose /proc state seeds the process table
  std::string subject;
  bool system_wide = false;
  bool on_exec = false;     // events start at the command's exec
  std::string backend_why;  // why eBPF is not used, under auto
};

namespace {

double cpu_seconds(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

bool pidfd_exited(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

Status check_request(const RecordOptions& o) {
  const Target& t = o.target;
  const bool command = !t.command.empty() && !t.system_wide_during_command;
  const int kinds = (!t.pids.empty() ? 1 : 0) + (!t.tid.empty() ? 1 : 0) + (command ? 1 : 0);
  if (kinds > 1 || (t.system_wide_during_command && (!t.pids.empty() || !t.tid.empty()))) {
    return Error{"choose one target", 0,
                 "  -a (every CPU, optionally while -- COMMAND runs), -p PID, -t TID or "
                 "-- COMMAND, not several"};
  }
  if (o.frequency == 0 && o.period == 0) {
    return Error{"frequency must be at least 1 Hz", 0, "  e.g. -F 99"};
  }
  if (o.duration_s < 0 || !std::isfinite(o.duration_s)) {
    return Error{"duration must be positive", 0, "  e.g. -d 5 (seconds)"};
  }
  for (auto [flag, value] : {std::pair{"--bpf-stack-entries", o.bpf_stack_entries},
                             std::pair{"--bpf-count-entries", o.bpf_count_entries}}) {
    if (value < 1 || value > (1U << 22)) {
      return Error{fmt::format("{} must be between 1 and 4194304", flag), 0,
                   fmt::format("  e.g. {} 65536", flag)};
    }
  }
  return {};
}

// Who is sampled: fills the session's threads (empty: every task on the CPUs) and `held`.
Status resolve_target(const RecordOptions& o, sampling::SamplingOptions& so, Recorder::Held& held) {
  const Target& t = o.target;
  if (!t.command.empty()) {
    auto w = process::Workload::prepare(t.command);
    if (!w) return w.error();
    held.workload.emplace(std::move(*w));
    if (t.system_wide_during_command) {
      held.subject = fmt::format("system wide while '{}' ran", held.workload->command_line());
    } else {
      so.threads = {held.workload->pid()};
      so.enable_on_exec = true;
      held.on_exec = true;
      held.subject = fmt::format("'{}'", held.workload->command_line());
    }
    const long fd = ::syscall(SYS_pidfd_open, held.workload->pid(), 0);
    if (fd >= 0) held.pidfds.emplace_back(static_cast<int>(fd));
  } else if (!t.pids.empty()) {
    auto processes = process::process_targets(t.pids);
    if (!processes) return processes.error();
    so.threads = processes->threads;
    held.pidfds = std::move(processes->pidfds);
    held.seed_pids = processes->pids;
    held.subject = fmt::format("process {}", t.pids);
  } else if (!t.tid.empty()) {
    auto tids = process::parse_id_list(t.tid, "tid");
    if (!tids) return tids.error();
    if (tids->size() != 1) return Error{"-t takes one thread id", 0, "  use -p PID for a process"};
    const pid_t tid = tids->front();
    const long tgid = proc_status_field(tid, "Tgid:");
    if (tgid <= 0) {
      return Error{fmt::format("no thread with id {}", tid), 0, "  list threads with `ps -eLf`"};
    }
    so.threads = {tid};
    so.inherit = false;
    held.seed_pids = {static_cast<pid_t>(tgid)};
    held.subject = fmt::format("thread {}", tid);
  } else {
    held.subject = "system wide";
  }
  held.system_wide = so.threads.empty();
  return {};
}

// The program whose binary --call-graph auto judges: the command, or the first -p/-t process.
void resolve_call_graph_for(const RecordOptions& o, const sampling::SamplingOptions& so,
                            const Recorder::Held& held, CallGraph& graph, bool bpf) {
  std::string program, shown;
  if (held.workload && !o.target.system_wide_during_command) {
    program = o.target.command.front();
    shown = program;
  } else if (!held.system_wide) {
    program = fmt::format("/proc/{}/exe", so.threads.front());
    shown = read_link(program);
    if (shown.empty()) shown = program;
  }
  resolve_call_graph(graph, program, shown, bpf);
}

// Why the eBPF backend cannot take this request, or empty.
std::string bpf_refusal(const RecordOptions& o, const CallGraph& graph,
                        const system::Capabilities& caps) {
  std::string why = bpf::unavailable_reason(caps);
  if (!why.empty()) return why;
  if (auto event = events::parse_event(o.event);
      event && event->kind == events::EventKind::tracepoint) {
    return fmt::format(
        "the eBPF backend runs a perf_event program, which the kernel does not attach to a "
        "tracepoint event ({})",
        o.event);
  }
  if (!o.target.tid.empty())
    return "-t follows one thread, which the eBPF filter (by process) cannot";
  if (graph.mode == CallGraphMode::none) {
    return "--call-graph none: the eBPF backend always aggregates by stack";
  }
  if (graph.mode == CallGraphMode::dwarf) {
    return "--call-graph dwarf copies user stacks, which only the perf ring buffers carry";
  }
  return {};
}

bpf::ProfilerOptions profiler_options(const RecordOptions& o, const sampling::SamplingOptions& so,
                                      const Recorder::Held& held) {
  bpf::ProfilerOptions bo;
  bo.event = so.event;
  bo.frequency = so.frequency;
  bo.period = so.period;
  bo.cpus = so.cpus;
  bo.kernel_stacks = !so.user_only;
  bo.skip_idle = o.no_idle;
  bo.stack_entries = o.bpf_stack_entries;
  bo.count_entries = o.bpf_count_entries;
  if (held.workload) {
    // Its tables are ready before it runs (it is held before its exec: its mappings are still
    // perfscope's own, nothing to load yet).
    const std::string& program = o.target.command.front();
    bo.prepare_files = {program.find('/') != std::string::npos ? program : find_on_path(program)};
    bo.load_targets_now = false;
  }
  if (held.system_wide) return bo;
  if (held.workload) {
    bo.targets = {held.workload->pid()};
    return bo;
  }
  for (pid_t tid : so.threads) {
    const long tgid = proc_status_field(tid, "Tgid:");
    if (tgid > 0 && std::find(bo.targets.begin(), bo.targets.end(), tgid) == bo.targets.end()) {
      bo.targets.push_back(static_cast<pid_t>(tgid));
    }
  }
  return bo;
}

}  // namespace

// --off-cpu and --wall: the scheduler's switches in the kernel (eBPF only), frame-pointer stacks.
Status Recorder::open_time_backend(const RecordOptions& o, const sampling::SamplingOptions& so,
                                   const system::Capabilities& caps) {
  Recorder& r = *this;
  const char* flag = o.time_mode == TimeMode::wall ? "--wall" : "--off-cpu";
  std::string why = bpf::unavailable_reason(caps);
  if (why.empty() && o.backend == BackendChoice::perf) why = "--backend perf was asked for";
  if (why.empty() && !o.target.tid.empty()) {
    why = "-t follows one thread, which the eBPF filter (by process) cannot; use -p";
  }
  if (!why.empty()) {
    return Error{fmt::format("{} needs the eBPF backend (sched_switch in the kernel), which "
                             "cannot run here",
                             flag),
                 0, "  " + why + "\n  more: perfscope doctor --need ebpf"};
  }
  const CallGraphMode asked = o.call_graph.mode;
  if (asked != CallGraphMode::automatic && asked != CallGraphMode::fp &&
      asked != CallGraphMode::cfi) {
    return Error{fmt::format("{} takes frame-pointer or in-kernel CFI stacks only", flag), 0,
                 "  leave --call-graph out, or use --call-graph cfi or fp"};
  }
  // The in-kernel walker by default, for the off-CPU and the on-CPU programs alike.
  const bool cfi = asked != CallGraphMode::fp;
  r.call_graph_ =
      cfi ? CallGraph{.mode = CallGraphMode::cfi,
                      .why = "off-CPU stacks walked in the kernel with .eh_frame unwind tables"}
          : CallGraph{.mode = CallGraphMode::fp, .why = "off-CPU stacks"};
  auto bo = profiler_options(o, so, *r.held_);
  bo.cfi_unwind = cfi;
  bo.unwind_table_limit = o.unwind_table_limit;
  bpf::OffCpuOptions off;
  off.targets = bo.targets;
  off.kernel_stacks = bo.kernel_stacks;
  off.min_block_ns = o.min_block_ns;
  off.count_entries = o.bpf_count_entries;
  off.stack_entries = o.bpf_stack_entries;
  off.cfi_unwind = cfi;
  off.load_targets_now = bo.load_targets_now;
  off.prepare_files = bo.prepare_files;
  off.unwind_table_limit = bo.unwind_table_limit;
  std::optional<bpf::ProfilerOptions> on_cpu;
  if (o.time_mode == TimeMode::wall) on_cpu = std::move(bo);
  auto b = open_offcpu_backend(std::move(on_cpu), std::move(off), so.cpus, caps);
  if (!b) return b.error();
  r.backend_ = std::move(*b);
  r.notes_ = r.backend_->report().notes;
  return {};
}

Recorder::Recorder(Recorder&&) noexcept = default;
Recorder& Recorder::operator=(Recorder&&) noexcept = default;
Recorder::~Recorder() = default;

const char* Recorder::backend_name() const {
  return backend_ ? backend_->name() : "";
}

Result<Recorder> Recorder::open(RecordOptions options, const system::Capabilities& caps) {
  if (auto st = check_request(options); !st) return st.error();
  auto event = events::parse_event(options.event);
  if (!event) return event.error();
  auto cpus = process::choose_cpus(options.cpus);
  if (!cpus) return cpus.error();

  Recorder r;
  r.held_ = std::make_unique<Held>();
  sampling::SamplingOptions so;
  so.event = *event;
  so.frequency = options.period > 0 ? 0 : options.frequency;
  so.period = options.period;
  so.user_only = options.no_kernel;
  so.cpus = *cpus;
  if (auto st = resolve_target(options, so, *r.held_); !st) return st.error();

  // auto picks the in-kernel walker when the eBPF backend can take the request.
  r.call_graph_ = options.call_graph;
  CallGraph fp_graph;
  fp_graph.mode = CallGraphMode::fp;
  const bool bpf_possible =
      options.backend != BackendChoice::perf && bpf_refusal(options, fp_graph, caps).empty();
  resolve_call_graph_for(options, so, *r.held_, r.call_graph_, bpf_possible);
  const auto configure_stacks = [&] {
    const bool dwarf = r.call_graph_.mode == CallGraphMode::dwarf;
    so.callchain = r.call_graph_.mode != CallGraphMode::none && !(dwarf && options.no_kernel);
    if (dwarf) {
      so.user_callchain = false;  // the kernel part comes from the kernel, the user part from CFI
      so.regs_user_mask = unwind::x86_64_sample_regs();
      so.stack_user_bytes = r.call_graph_.stack_bytes;
    }
  };
  configure_stacks();

  if (options.time_mode != TimeMode::cpu) {
    if (auto st = r.open_time_backend(options, so, caps); !st) return st.error();
    r.options_ = std::move(options);
    return r;
  }
  // eBPF in-kernel aggregation when allowed, perf ring buffers otherwise.
  if (options.backend != BackendChoice::perf) {
    const std::string why = bpf_refusal(options, r.call_graph_, caps);
    if (!why.empty() && options.backend == BackendChoice::bpf) {
      return Error{
          "the eBPF backend cannot run here", 0,
          fmt::format("  {}\n  or use --backend perf\n  more: perfscope doctor --need ebpf", why)};
    }
    if (why.empty()) {
      auto bo = profiler_options(options, so, *r.held_);
      bo.cfi_unwind = r.call_graph_.mode == CallGraphMode::cfi;
      bo.unwind_table_limit = options.unwind_table_limit;
      auto b = open_bpf_backend(std::move(bo), caps);
      if (b) {
        r.backend_ = std::move(*b);
      } else if (options.backend == BackendChoice::bpf) {
        return b.error();
      } else {
        r.held_->backend_why = fmt::format("loading failed: {}", b.error().message());
      }
    } else {
      r.held_->backend_why = why;
      // Said at once when it is the event, which the person chose, that rules eBPF out.
      if (why.find("tracepoint event") != std::string::npos) {
        r.notes_.push_back(fmt::format("perf ring buffers, not eBPF: {}", why));
      }
    }
  }
  if (!r.backend_ && r.call_graph_.mode == CallGraphMode::cfi) {
    if (options.call_graph.mode == CallGraphMode::cfi) {
      const std::string why = options.backend == BackendChoice::perf
                                  ? "--backend perf was asked for"
                                  : r.held_->backend_why;
      return Error{"--call-graph cfi needs the eBPF backend, which cannot run here", 0,
                   fmt::format("  {}\n  or use --call-graph dwarf (perf ring buffers)", why)};
    }
    // auto chose the walker for a backend that did not load: decide again for perf rings.
    r.call_graph_ = options.call_graph;
    resolve_call_graph_for(options, so, *r.held_, r.call_graph_, false);
    configure_stacks();
  }
  if (!r.backend_) {
    auto b = open_perf_backend(so, options.no_idle, caps);
    if (!b) {
      Error e = b.error();
      if (r.held_->system_wide && options.target.command.empty() &&
          (e.errnum == EACCES || e.errnum == EPERM)) {
        e.hint += "\n  or profile one of your own programs: perfscope record -- ./program ARGS";
      }
      return e;
    }
    r.backend_ = std::move(*b);
  }
  const auto backend_notes = r.backend_->report().notes;
  r.notes_.insert(r.notes_.end(), backend_notes.begin(), backend_notes.end());
  r.options_ = std::move(options);
  return r;
}

Result<RecordResult> Recorder::run(const process::StopSource& stop) {
  return run(stop, LiveClient{});
}

Result<RecordResult> Recorder::run(const process::StopSource& stop, const LiveClient& live) {
  const bool is_live = static_cast<bool>(live.on_refresh);
  Held& held = *held_;
  Backend& backend = *backend_;
  sampling::Collector& collector = backend.collector();
  if (stop.fd >= 0) {
    if (auto st = backend.watch(stop.fd); !st) return st.error();
  }
  for (const auto& fd : held.pidfds) {
    if (auto st = backend.watch(fd.get()); !st) return st.error();
  }
  if (is_live && live.input_fd >= 0) {
    if (auto st = backend.watch(live.input_fd); !st) return st.error();
  }
  for (pid_t pid : held.seed_pids) collector.processes().seed_from_proc(pid);
  if (held.system_wide) collector.processes().seed_from_proc(-1);

  RecordResult result;
  const double cpu_before = process_cpu_seconds();
  const auto cpu_times_start = system::read_cpu_times();
  const auto wall_start = std::chrono::system_clock::now();
  const double start = monotonic_seconds();
  if (is_live) backend.drain_with_refreshes(live.refresh_s);
  if (auto st = backend.start(held.on_exec); !st) return st.error();
  if (held.workload) {
    if (auto st = held.workload->start(); !st) return st.error();
  }

  bool duration_ended = false;
  double next_refresh = start + live.refresh_s;
  // A live view sleeps until its next refresh (or an event: a signal, input, a pidfd, a full
  // ring); polling a command without a pidfd, or a recording, wakes at least every 250 ms.
  const bool poll_workload = held.workload && held.pidfds.empty();
  for (;;) {
    int timeout_ms = is_live && !poll_workload ? 60000 : 250;
    if (options_.duration_s > 0) {
      const double left = start + options_.duration_s - monotonic_seconds();
      if (left <= 0) {
        duration_ended = true;
        break;
      }
      timeout_ms = std::min(timeout_ms, static_cast<int>(std::ceil(left * 1000)));
    }
    if (is_live) {
      const double now = monotonic_seconds();
      if (now >= next_refresh) {
        if (auto st = backend.drain_now(); !st) return st.error();
        next_refresh = std::max(next_refresh + live.refresh_s, now + live.refresh_s / 2);
        if (!live.on_refresh(collector)) {
          duration_ended = true;
          break;
        }
      }
      timeout_ms = std::min(timeout_ms,
                            std::max(0, static_cast<int>(std::ceil((next_refresh - now) * 1000))));
    }
    auto woken = backend.wait(timeout_ms);
    if (!woken) return woken.error();
    // (pidfd_exited() is a readability test: the terminal has input.)
    if (is_live && live.input_fd >= 0 && live.on_input && pidfd_exited(live.input_fd) &&
        !live.on_input()) {
      duration_ended = true;
      break;
    }
    // Without a pidfd (kernels before 5.3) the command's exit is noticed by polling.
    if (held.workload && held.pidfds.empty() && held.workload->try_reap()) break;
    if (!*woken) continue;
    if (stop.take) {
      if (const int sig = stop.take(); sig != 0) {
        result.stop_signal = sig;
        break;
      }
    }
    // Every followed process has exited: done. One that exited before the others stays
    // readable until its parent reaps it, so it leaves the wait set instead of waking every wait.
    std::size_t exited = 0;
    for (const auto& fd : held.pidfds) {
      if (!pidfd_exited(fd.get())) continue;
      ++exited;
      (void)backend.unwatch(fd.get());
    }
    if (!held.pidfds.empty() && exited == held.pidfds.size()) break;
  }
  RecordStats& stats = result.stats;
  stats.elapsed_s = monotonic_seconds() - start;
  stats.cpu_times = system::cpu_times_between(cpu_times_start, system::read_cpu_times());
  if (auto st = backend.finish(); !st) return st.error();
  stats.recording_cpu_s = process_cpu_seconds() - cpu_before;

  if (held.workload) {
    if (!held.workload->try_reap()) {
      // Recording ended first (duration, stop): the command does not outlive its profile.
      const int sig = result.stop_signal != 0 ? result.stop_signal : SIGTERM;
      if (!held.workload->end(sig)) {
        result.notes.push_back(
            fmt::format("{} (pid {}) was still running {} s after the signal; killed it (SIGKILL)",
                        held.workload->command_line(), held.workload->pid(),
                        process::Workload::kEndGraceSeconds));
      }
      result.command_ended_by_duration = duration_ended && result.stop_signal == 0;
    }
    stats.command_cpu_s = cpu_seconds(held.workload->usage());
    if (result.stop_signal == 0 && !result.command_ended_by_duration) {
      result.command_status = held.workload->exit_code();
    }
  }
  result.backend = backend.report();
  if (!is_live) result.profile = build(result, wall_start);
  return result;
}

profile::Profile Recorder::build(RecordResult& result,
                                 std::chrono::system_clock::time_point wall_start) const {
  const BackendReport& b = result.backend;
  RecordStats& stats = result.stats;
  const sampling::Collector& collector = backend_->collector();
  const sampling::SamplingOptions& so = backend_->session().options();
  stats.subject = held_->subject;
  stats.backend = backend_->name();
  stats.backend_why = options_.backend == BackendChoice::automatic ? held_->backend_why : "";
  stats.system_wide = held_->system_wide;
  stats.no_idle = options_.no_idle;
  stats.samples = collector.samples();
  stats.samples_per_cpu = collector.samples_per_cpu();
  stats.cpus.assign(so.cpus.begin(), so.cpus.end());
  const bool bpf = backend_->in_kernel();
  stats.bpf = bpf;
  stats.call_graph_line =
      fmt::format("{}{}", call_graph_name(call_graph_.mode),
                  call_graph_.why.empty() ? "" : fmt::format(" ({})", call_graph_.why));

  ProfileInfo info;
  auto event = events::parse_event(b.event);
  info.event = b.event;
  info.time_based = event ? events::is_time_based(*event) : true;
  if (options_.time_mode != TimeMode::cpu) info.time_type = b.event;
  stats.time_based = info.time_based;
  info.frequency = b.frequency;
  info.period = options_.period;
  info.time_nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count();
  info.duration_nanos = static_cast<std::int64_t>(stats.elapsed_s * 1e9);
  const auto comment = [&](const std::string& line) {
    info.comments.push_back("perfscope: " + line.substr(line.find_first_not_of(' ')));
  };
  comment(fmt::format("record {} at {} Hz, {}", info.event, b.frequency, b.stacks_how));
  comment(fmt::format("call graph {}", stats.call_graph_line));
  for (const auto& line : b.unwind_lines) comment(line);
  comment(fmt::format("target {}", stats.subject));
  comment(fmt::format("backend {}", stats.backend));
  for (const auto& note : b.notes) comment(note);
  comment(fmt::format("lost {} samples", b.lost));
  for (const auto& line : b.comments) comment(line);

  symbols::Symbolizer symbolizer;
  BuildStats built;
  const double symbolize_start = monotonic_seconds();
  profile::Profile profile = build_profile(collector, symbolizer, info, &built);
  stats.symbolize_s = monotonic_seconds() - symbolize_start;
  stats.stacks = built.stacks;
  stats.addresses = built.addresses;
  stats.unresolved = built.unknown;
  const profile::StackReach reach = profile::user_stack_reach(profile);
  if (reach.with_user_stack > 0) {
    stats.reach_line = fmt::format(
        "user stacks reaching main or a thread start: {:.1f}% ({} of {} samples with a user "
        "stack)",
        100.0 * static_cast<double>(reach.reaching_root) /
            static_cast<double>(reach.with_user_stack),
        reach.reaching_root, reach.with_user_stack);
    profile.add_comment("perfscope: " + stats.reach_line);
  }
  return profile;
}

}  // namespace perfscope::recording
