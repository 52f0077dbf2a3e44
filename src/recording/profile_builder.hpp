// Builds the saved Profile from what a recording collected: every unique address symbolized
// once, stacks turned into pprof locations (leaf first, inline frames as extra lines), samples
// labelled with pid, tid, cpu and comm.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "profile/profile.hpp"
#include "sampling/collector.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::recording {

struct ProfileInfo {
  std::string event = "cpu-clock";  // as sampled (after fallbacks)
  bool time_based = true;           // the period is nanoseconds of CPU time (cpu-clock, task-clock)
  std::uint64_t frequency = 0;      // Hz, 0 when sampling by period
  std::uint64_t period = 0;         // events per sample when sampling by period
  std::int64_t time_nanos = 0;      // recording start, ns since the epoch
  std::int64_t duration_nanos = 0;
  std::vector<std::string> comments;  // command line, notes, lost/throttled counts
  // "off-cpu" or "wall": the second sample type is this, in nanoseconds, and the default; every
  // sample gets a `state` label (on-cpu, sleeping, blocked, runnable). Empty: a CPU profile.
  std::string time_type;
  // The samples carry the CPU they ran on (a perf.data recorded without PERF_SAMPLE_CPU does
  // not): false leaves out the cpu label, so reports say "[unknown]" rather than cpu 0.
  bool cpus = true;
};

struct BuildStats {
  std::size_t stacks = 0;     // distinct (pid, tid, cpu, stack) entries
  std::size_t addresses = 0;  // distinct locations
  std::size_t unknown = 0;    // locations that could not be symbolized
};

// Profile comments that start with this name a module whose addresses no symbol names (a
// stripped file): why, how many addresses are named "module+0xADDRESS", their share of samples and
// the fix. The most sampled module first; the record summary shows them.
inline constexpr std::string_view kUnnamedCommentPrefix = "perfscope: symbols: ";

// The kernel's PERF_CONTEXT_* markers split a call chain into kernel and user parts; they never
// become frames. A user address no symbol names becomes a frame of its own, "module+0xADDRESS".
profile::Profile build_profile(const sampling::Collector& collector,
                               symbols::Symbolizer& symbolizer, const ProfileInfo& info,
                               BuildStats* stats = nullptr);

// A profile built while the recording goes on (`top`): each update() turns the stack entries the
// collector gained since the last call into samples, sample i standing for the collector's entry
// i, and symbolizes only addresses not seen before (every address once per run). Sample values
// are the entries' counts when first seen; callers track counts themselves.
class IncrementalProfileBuilder {
 public:
  IncrementalProfileBuilder(const sampling::Collector& collector, symbols::Symbolizer& symbolizer,
                            const ProfileInfo& info);
  ~IncrementalProfileBuilder();
  IncrementalProfileBuilder(const IncrementalProfileBuilder&) = delete;
  IncrementalProfileBuilder& operator=(const IncrementalProfileBuilder&) = delete;

  void update();
  const profile::Profile& profile() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A mapping backed by a file symbols can be read from ("/usr/lib/...", not "//anon" or memfd).
bool is_file_mapping(const std::string& path);
// Anonymous or memfd memory, where a JIT's /tmp/perf-PID.map may name the code.
bool is_jit_region(const std::string& path);
// Why a user address of `space` stays unnamed once no JIT map names it: `m` is its mapping, or
// null.
std::string unresolved_reason(const sampling::ProcessTable& processes,
                              const sampling::AddressSpace& space, const sampling::Mapping* m);

}  // namespace perfscope::recording
