// The eBPF backend of `perfscope record`: a perf_event BPF program on every chosen CPU counts
// samples per distinct (process, thread, CPU, program image, kernel stack, user stack) in the
// kernel, and drain() hands the counts to the same sampling::Collector the ring-buffer backend
// feeds. Side-band records (mmaps, exec, fork, exit) still come from perf: the caller runs a
// sampling::Session on the dummy event beside the Profiler and drains it first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/error.hpp"
#include "events/event_spec.hpp"
#include "sampling/collector.hpp"
#include "system/capabilities.hpp"

struct perfscope_profile;
struct bpf_link;
struct ps_count_key;
struct ps_count_value;

namespace perfscope::bpf {

struct ProfilerOptions {
  events::EventSpec event;       // what drives sampling; cpu-clock when the name is empty
  std::uint64_t frequency = 99;  // samples per second per CPU
  CpuSet cpus;
  bool kernel_stacks = true;
  bool skip_idle = false;      // leave out the idle task's samples
  std::vector<pid_t> targets;  // process ids (their children follow); empty = every process
  // Map sizes, per generation (two generations alternate between drains).
  std::uint32_t count_entries = 32768;
  std::uint32_t stack_entries = 16384;
};

// Counted in the kernel, per CPU, summed here: nothing the program drops goes unreported.
struct ProfilerStats {
  std::uint64_t samples = 0;                  // counted into the maps
  std::uint64_t idle = 0;                     // idle-task samples left out (skip_idle)
  std::uint64_t kernel_stack_collisions = 0;  // kernel stack not stored: map bucket taken
  std::uint64_t kernel_stack_errors = 0;
  std::uint64_t user_stack_collisions = 0;
  std::uint64_t user_stack_errors = 0;  // e.g. -EFAULT: the user stack could not be read
  std::uint64_t counts_full = 0;        // samples lost: the counts map was full
  std::uint64_t filtered = 0;           // samples of other processes (with targets)
  std::uint64_t new_targets = 0;        // children of targets that joined
  std::uint64_t execs = 0;
};

// Why the eBPF backend cannot run here, or empty when it can (root or CAP_BPF + CAP_PERFMON,
// and kernel BTF for CO-RE).
std::string unavailable_reason(const system::Capabilities& caps);

class Profiler {
 public:
  Profiler(Profiler&&) noexcept;
  Profiler& operator=(Profiler&&) noexcept;
  ~Profiler();

  // Opens and loads the programs with the options' knobs and map sizes; nothing is attached yet.
  static Result<Profiler> open(ProfilerOptions options, const system::Capabilities& caps);

  // Attaches the fork/exec tracepoints and one sampling event per CPU: sampling starts.
  Status start();
  // Detaches the sampling events: no sample is counted after this returns.
  void stop();
  // Moves every count of the generation the programs were writing into `collector` (switching
  // them to the other generation first) and empties it. `after_switch` runs between the switch
  // and the reading: the caller drains its side-band records there.
  Status drain(sampling::Collector& collector, const std::function<void()>& after_switch = {});

  ProfilerStats stats() const;
  const ProfilerOptions& options() const { return options_; }  // after fallbacks
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  Profiler() = default;
  Status drain_generation(unsigned generation, sampling::Collector& collector);
  std::uint64_t stat_sum(std::uint32_t slot) const;  // one `stats` slot summed over CPUs
  ProfilerOptions options_;
  struct SkeletonDeleter {
    void operator()(perfscope_profile* skel) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  std::unique_ptr<perfscope_profile, SkeletonDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> sampling_links_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> tracepoint_links_;
  std::vector<std::string> notes_;
  unsigned generation_ = 0;
  std::vector<std::uint64_t> stack_buffer_;
  std::vector<ps_count_key> keys_;  // batch buffers, kept between drains
  std::vector<ps_count_value> values_;
  std::uint64_t counts_full_seen_ = 0;
  // Per generation: the stacks read from its stack map so far, by id.
  std::unordered_map<std::int32_t, std::vector<std::uint64_t>> stack_cache_[2];
};

}  // namespace perfscope::bpf
