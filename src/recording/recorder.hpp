// Recorder: one CPU recording, from the request to a symbolized Profile. It resolves the target,
// chooses the backend (eBPF in-kernel aggregation or perf ring buffers) and the call-graph mode,
// starts a held command, drains at the backend's cadence until the duration ends, the targets
// exit or a stop signal arrives, and builds the profile. `record`, `scenario` (and later `top`)
// are clients; the library never prints: what a person should read comes back as notes and as
// the summary lines of summarize().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/error.hpp"
#include "events/event_spec.hpp"
#include "process/stop_source.hpp"
#include "profile/profile.hpp"
#include "recording/backend.hpp"
#include "recording/call_graph.hpp"
#include "system/capabilities.hpp"
#include "system/cpu_times.hpp"

namespace perfscope::recording {

enum class BackendChoice { automatic, bpf, perf };
Result<BackendChoice> parse_backend(const std::string& text);

// Who is recorded: exactly one of these (all empty: every process on `cpus`).
struct Target {
  std::string pids;                  // -p "1234,5678": these processes with all their threads
  std::string tid;                   // -t: this one thread
  std::vector<std::string> command;  // -- CMD: started held, recorded from its exec
  // With a command: record every process on `cpus` while it runs (-a -- CMD), not the command.
  bool system_wide_during_command = false;
};

// What a recording measures: CPU samples, the time threads spend off the CPU (--off-cpu), or
// both in nanoseconds with a state label on every sample (--wall).
enum class TimeMode { cpu, off_cpu, wall };

struct RecordOptions {
  std::string event = "cpu-clock";  // event spec text, as -e takes it
  std::uint64_t frequency = 99;     // Hz per CPU
  std::uint64_t period = 0;         // -c: one sample every `period` events (0: by frequency)
  double duration_s = 0;            // 0: until the command (or every -p process) exits, or stop
  std::string cpus;                 // -C list; empty: every online CPU
  Target target;
  CallGraph call_graph;
  BackendChoice backend = BackendChoice::automatic;
  bool no_kernel = false;
  bool no_idle = false;
  std::uint32_t bpf_stack_entries = 16384;
  std::uint32_t bpf_count_entries = 32768;
  std::uint64_t unwind_table_limit = std::uint64_t{64} << 20;  // --call-graph cfi: table bytes
  TimeMode time_mode = TimeMode::cpu;
  std::uint64_t min_block_ns = 1000;  // --off-cpu/--wall: shorter off-CPU intervals left out
};

// Everything summarize() reports besides the profile itself.
struct RecordStats {
  std::string subject;          // "system wide", "process 1234", "'gzip -c f'"
  std::string backend;          // "perf (ring buffers)" or "bpf (in-kernel aggregation)"
  std::string backend_why;      // why eBPF was not used under --backend auto, or empty
  std::string call_graph_line;  // "dwarf (auto: gzip lacks frame pointers (...))"
  bool bpf = false;             // the eBPF backend ran
  bool system_wide = false;
  bool time_based = true;
  double elapsed_s = 0;
  std::uint64_t samples = 0;
  std::vector<int> cpus;
  std::map<std::uint32_t, std::uint64_t> samples_per_cpu;
  std::map<int, system::CpuTimes> cpu_times;  // per CPU over the recording
  std::string reach_line;                     // "user stacks reaching main or a thread start: ..."
  std::size_t stacks = 0, addresses = 0, unresolved = 0;  // of the built profile
  double symbolize_s = 0;
  double recording_cpu_s = 0;  // perfscope's own CPU while recording
  double command_cpu_s = -1;   // the command's CPU time, when there was one
  bool no_idle = false;
};

struct RecordResult {
  profile::Profile profile;
  RecordStats stats;
  BackendReport backend;
  int stop_signal = 0;  // the signal that ended the recording, or 0
  // The command's exit status (shell convention, 128 + N for signal N), or 0 without a command.
  // A command that the duration ended counts as 0, as the recording asked for its end.
  int command_status = 0;
  bool command_ended_by_duration = false;
  std::vector<std::string> notes;  // said during the recording (killed a command, ...)
};

// A live client of a recording (`top`). run() calls on_refresh every refresh_s seconds, right
// after the backend took everything sampled so far into the collector, and on_input whenever
// input_fd is readable (the terminal). Either returning false ends the recording as its duration
// would. With a live client run() builds no profile at the end: the client keeps its own, and
// may empty the collector's stacks and forget exited processes it no longer shows.
struct LiveClient {
  double refresh_s = 1;
  std::function<bool(sampling::Collector&)> on_refresh;
  int input_fd = -1;
  std::function<bool()> on_input;
};

class Recorder {
 public:
  Recorder(Recorder&&) noexcept;
  Recorder& operator=(Recorder&&) noexcept;
  ~Recorder();

  // Checks the request, resolves the targets, chooses backend and call graph, prepares a held
  // command and opens every event. Nothing is sampled until run().
  static Result<Recorder> open(RecordOptions options, const system::Capabilities& caps);

  // Fallbacks and choices made while opening ("kernel space left out: ..."), for stderr.
  const std::vector<std::string>& notes() const { return notes_; }
  const CallGraph& call_graph() const { return call_graph_; }
  const char* backend_name() const;

  // Samples until the duration, the targets' exit or `stop`; then drains, ends a command still
  // running (SIGTERM, SIGKILL after a grace period) and builds the symbolized profile.
  Result<RecordResult> run(const process::StopSource& stop = {});
  // The same, with a live client called while it samples (see LiveClient).
  Result<RecordResult> run(const process::StopSource& stop, const LiveClient& live);

  struct Held;  // the held command, -p pidfds and the target description

 private:
  Recorder() = default;
  // --off-cpu and --wall: opens the off-CPU backend (eBPF only) into backend_.
  Status open_time_backend(const RecordOptions& o, const sampling::SamplingOptions& so,
                           const system::Capabilities& caps);
  profile::Profile build(RecordResult& result,
                         std::chrono::system_clock::time_point wall_start) const;
  RecordOptions options_;
  CallGraph call_graph_;
  std::vector<std::string> notes_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Held> held_;
};

// The summary perfscope prints after a recording, one line each (no newline), seed 001's lines
// first. `output` names where the profile went ("-" for standard output); `total_cpu_s` is
// perfscope's CPU time from its start to the written profile.
std::vector<std::string> summarize(const RecordResult& result, const std::string& output,
                                   double total_cpu_s);

}  // namespace perfscope::recording
