#include "scenario/phases.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>

#include <map>
#include <utility>

#include "bpf/syscall_tracer.hpp"
#include "core/clock.hpp"
#include "core/output_file.hpp"
#include "heap/run_views.hpp"
#include "heap/tracker.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/stack_tree.hpp"
#include "process/workload.hpp"
#include "profile/query.hpp"
#include "syscalls/names.hpp"
#include "syscalls/session.hpp"
#include "syscalls/summary.hpp"
#include "system/capabilities.hpp"

namespace perfscope::scenario {
namespace {

Result<RunLog> open_log(const RunContext& c, Phase phase) {
  return RunLog::open(c.file(fmt::format("logs/{}.log", phase_name(phase))));
}

// A library's failure as the run's: what failed and its fix, then the end of the run's log.
Error run_failed(Phase phase, const Error& e, const RunLog& log) {
  std::string hint = e.hint;
  if (const auto tail = log.tail(8); !tail.empty()) {
    hint += fmt::format("{}  the end of logs/{}.log:\n{}", hint.empty() ? "" : "\n",
                        phase_name(phase), tail);
  }
  return Error{fmt::format("the {} run failed: {}", phase_name(phase), e.message()), 0, hint};
}

// `open()` with the command's standard streams on `log`: open() prepares (forks) the held command.
template <typename Open>
auto open_with_log(const RunLog& log, Open&& open) -> decltype(open()) {
  auto redirect = ChildStdio::redirect(log);
  if (!redirect) return redirect.error();
  return open();
}

// Waits for the bare command; a stop signal is passed on by Workload::end (the signal, SIGKILL
// after the grace period). Returns the stop signal, or 0.
int wait_for(process::Workload& command, process::SignalWatch& signals) {
  while (!command.try_reap()) {
    pollfd p{signals.fd(), POLLIN, 0};
    (void)::poll(&p, 1, 200);
    if (const int sig = signals.next_stop(); sig != 0) {
      command.end(sig);
      return sig;
    }
  }
  return 0;
}

// The hottest functions of a CPU profile, by self share.
std::vector<FunctionShare> top_functions(const profile::Profile& p, std::size_t top) {
  std::vector<FunctionShare> out;
  auto hot = profile::hottest(p, {});
  if (!hot || hot->total <= 0) return out;
  const auto all = static_cast<double>(hot->total);
  for (const auto& e : hot->entries) {
    if (e.self <= 0 || out.size() == top) break;
    out.push_back({e.name, 100.0 * static_cast<double>(e.self) / all,
                   100.0 * static_cast<double>(e.total) / all});
  }
  return out;
}

// The process with the largest heap at its peak (inuse_space, which the tracker takes at the
// peak), summed over the images of one pid.
std::optional<HeapPeak> heap_peak(const profile::Profile& p) {
  auto inuse = profile::sample_type_index(p, "inuse_space");
  auto allocs = profile::sample_type_index(p, "alloc_objects");
  if (!inuse || !allocs) return std::nullopt;
  profile::LabelKeys keys(p);
  std::map<std::int64_t, HeapPeak> by_pid;
  for (const auto& s : p.samples()) {
    const auto pid = profile::num_label(s, keys.pid).value_or(0);
    HeapPeak& h = by_pid[pid];
    h.pid = pid;
    h.peak_bytes += static_cast<std::uint64_t>(std::max<std::int64_t>(s.values[*inuse], 0));
    h.allocations += static_cast<std::uint64_t>(std::max<std::int64_t>(s.values[*allocs], 0));
    if (h.comm.empty()) h.comm = std::string(p.string(profile::str_label(s, keys.comm)));
  }
  std::optional<HeapPeak> best;
  for (auto& [pid, h] : by_pid) {
    if (!best || h.peak_bytes > best->peak_bytes) best = h;
  }
  return best;
}

IoNumbers io_numbers(const syscalls::Summary& s) {
  const auto total = s.total();
  IoNumbers io{.calls = total.calls,
               .errors = total.errors,
               .seconds = static_cast<double>(syscalls::row_time_ns(s, total, false)) / 1e9,
               .time = s.cpu_time ? "cpu" : "wall",
               .backend = s.backend,
               .top_syscalls = {}};
  for (const auto& [key, row] : syscalls::sorted_rows(s, false)) {
    if (io.top_syscalls.size() == 5) break;
    io.top_syscalls.push_back({syscalls::syscall_name(key.nr), row.calls, row.errors,
                               static_cast<double>(syscalls::row_time_ns(s, row, false)) / 1e9});
  }
  return io;
}

// flamegraph.svg of a CPU profile, as `perfscope flamegraph -i profile.pb.gz --title T` draws it.
Result<std::string> cpu_flamegraph(const profile::Profile& p, const std::string& title) {
  auto tree = output::tree_from_profile(p);
  if (!tree) return tree.error();
  std::string unit =
      p.sample_types.empty() ? std::string() : std::string(p.string(p.sample_types[0].type));
  return output::flamegraph_svg(*tree, {.title = title,
                                        .width = 1200,
                                        .min_width = 0.1,
                                        .inverted = false,
                                        .palette = output::Palette::hot,
                                        .unit = unit.empty() ? std::string("samples") : unit});
}

}  // namespace

Result<RunOutcome> run_bare(const RunContext& c) {
  auto log = open_log(c, Phase::bare);
  if (!log) return log.error();
  const double start = monotonic_seconds();
  auto command = open_with_log(*log, [&] { return process::Workload::prepare(c.options.command); });
  if (!command) return run_failed(Phase::bare, command.error(), *log);
  if (auto st = command->start(); !st) return run_failed(Phase::bare, st.error(), *log);
  RunOutcome out;
  out.stop_signal = wait_for(*command, c.signals);
  out.record = {monotonic_seconds() - start, command->exit_code(), {"logs/bare.log"}};
  return out;
}

Result<recording::RecordResult> record_cpu(const recording::RecordOptions& options,
                                           const RunLog& log, process::SignalWatch& signals) {
  auto recorder = open_with_log(
      log, [&] { return recording::Recorder::open(options, system::Capabilities::current()); });
  if (!recorder) return recorder.error();
  auto result = recorder->run(signals.stop_source());
  if (result) {
    result->notes.insert(result->notes.begin(), recorder->notes().begin(), recorder->notes().end());
  }
  return result;
}

Result<RunOutcome> run_cpu(const RunContext& c, ScenarioSummary& summary) {
  auto log = open_log(c, Phase::cpu);
  if (!log) return log.error();
  const double start = monotonic_seconds();
  const double cpu_start = process_cpu_seconds();
  recording::RecordOptions options;
  options.frequency = c.options.freq;
  options.target.command = c.options.command;
  auto r = record_cpu(options, *log, c.signals);
  if (!r) return run_failed(Phase::cpu, r.error(), *log);
  if (auto st = profile::write_pprof(r->profile, c.file("profile.pb.gz")); !st) return st.error();
  const auto totals = profile::totals(r->profile);
  const std::int64_t samples = totals.values.empty() ? 0 : totals.values[0];
  RunOutcome out;
  out.record.files = {"profile.pb.gz"};
  if (samples > 0) {  // a command that never ran on a CPU has nothing to draw
    auto svg = cpu_flamegraph(r->profile, fmt::format("{}: {}", c.options.name, summary.command));
    if (!svg) return run_failed(Phase::cpu, svg.error(), *log);
    if (auto st = write_output_file(c.file("flamegraph.svg"), *svg); !st) return st.error();
    out.record.files.insert(out.record.files.begin(), "flamegraph.svg");
  }
  summary.cpu = CpuNumbers{.samples = samples,
                           .lost = profile::lost_samples(r->profile),
                           .top_functions = top_functions(r->profile, 5)};
  if (auto st = log->append("perfscope record: ", r->notes); !st) return st.error();
  const auto lines = recording::summarize(*r, "profile.pb.gz", process_cpu_seconds() - cpu_start);
  if (auto st = log->append("", lines); !st) return st.error();
  out.stop_signal = r->stop_signal;
  out.record.seconds = monotonic_seconds() - start;
  out.record.exit_code = r->stop_signal != 0 ? 128 + r->stop_signal : r->command_status;
  out.record.files.push_back("logs/cpu.log");
  return out;
}

Result<RunOutcome> run_memory(const RunContext& c, ScenarioSummary& summary) {
  auto log = open_log(c, Phase::memory);
  if (!log) return log.error();
  const double start = monotonic_seconds();
  auto tracker = open_with_log(*log, [&] {
    return heap::Tracker::open(
        {.command = c.options.command, .unwind = heap::Unwind::automatic, .preload_library = {}});
  });
  if (!tracker) return run_failed(Phase::memory, tracker.error(), *log);
  auto r = tracker->run(c.signals.stop_source());
  if (!r) return run_failed(Phase::memory, r.error(), *log);
  if (auto st = profile::write_pprof(r->profile, c.file("heap.pb.gz")); !st) return st.error();
  if (auto st = write_output_file(c.file("heap.txt"), heap::run_report_text(*r)); !st) {
    return st.error();
  }
  for (const auto& [name, svg] :
       {std::pair{"heap.svg", heap::run_flamegraph_svg(*r, heap::kInuseSpace)},
        std::pair{"heap-timeline.svg", heap::run_timeline_svg(*r)}}) {
    if (!svg) return run_failed(Phase::memory, svg.error(), *log);
    if (auto st = write_output_file(c.file(name), *svg); !st) return st.error();
  }
  summary.memory = MemoryNumbers{.peak = heap_peak(r->profile)};
  if (auto st = log->append("perfscope mem: ", r->notes); !st) return st.error();
  RunOutcome out;
  out.stop_signal = r->stop_signal;
  out.record = {monotonic_seconds() - start,
                r->stop_signal != 0 ? 128 + r->stop_signal : r->command_status,
                {"heap.txt", "heap.svg", "heap-timeline.svg", "heap.pb.gz", "logs/memory.log"}};
  return out;
}

Result<RunOutcome> run_io(const RunContext& c, ScenarioSummary& summary) {
  auto log = open_log(c, Phase::io);
  if (!log) return log.error();
  const double start = monotonic_seconds();
  syscalls::SessionOptions options;
  options.command = c.options.command;
  auto session = open_with_log(*log, [&] {
    return syscalls::Session::open(options,
                                   bpf::syscall_tracer_opener(syscalls::BackendChoice::automatic,
                                                              system::Capabilities::current()));
  });
  if (!session) return run_failed(Phase::io, session.error(), *log);
  if (auto st = session->start(); !st) return run_failed(Phase::io, st.error(), *log);
  auto r = session->run(&c.signals);
  if (!r) return run_failed(Phase::io, r.error(), *log);
  const syscalls::TableOptions table{.wall = false, .histogram = true};
  if (auto st =
          write_output_file(c.file("syscalls.txt"), syscalls::format_table(r->summary, table));
      !st) {
    return st.error();
  }
  if (auto st = write_output_file(c.file("syscalls.json"), syscalls::to_json(r->summary, table));
      !st) {
    return st.error();
  }
  summary.io = io_numbers(r->summary);
  if (auto st = log->append("perfscope syscalls: note: ", r->notes); !st) return st.error();
  RunOutcome out;
  out.stop_signal = r->stop_signal;
  out.record = {monotonic_seconds() - start,
                r->command_status,
                {"syscalls.txt", "syscalls.json", "logs/io.log"}};
  return out;
}

}  // namespace perfscope::scenario
