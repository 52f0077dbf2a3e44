// The eBPF backend of `perfscope record`: a perf_event BPF program on every chosen CPU counts
// samples per distinct (process, thread, CPU, program image, kernel stack, user stack) in the
// kernel, and drain() hands the counts to the same sampling::Collector the ring-buffer backend
// feeds. Side-band records (mmaps, exec, fork, exit) still come from perf: the caller runs a
// sampling::Session on the dummy event beside the Profiler and drains it first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/unwind_tables.hpp"
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
  std::uint64_t frequency = 99;  // samples per second per CPU; 0: one every `period` events
  std::uint64_t period = 0;
  CpuSet cpus;
  bool kernel_stacks = true;
  bool skip_idle = false;      // leave out the idle task's samples
  std::vector<pid_t> targets;  // process ids (their children follow); empty = every process
  // Map sizes, per generation (two generations alternate between drains).
  std::uint32_t count_entries = 32768;
  std::uint32_t stack_entries = 16384;
  // Walk user stacks in the kernel with .eh_frame unwind tables (UnwindTables), frame pointers
  // where a module has none; false: bpf_get_stackid's frame-pointer walk only.
  bool cfi_unwind = false;
  // Load the targets' unwind tables at open (running processes); false for a command not yet
  // exec()ed, whose mappings are still perfscope's own.
  bool load_targets_now = true;
  // Files whose tables are loaded at open (the command's program), with libc and the loader.
  std::vector<std::string> prepare_files;
  std::uint64_t unwind_table_limit = std::uint64_t{64} << 20;  // bytes of tables in BPF maps
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
  // The in-kernel CFI walker (cfi_unwind).
  std::uint64_t cfi_stacks = 0;          // user stacks it walked
  std::uint64_t cfi_pending = 0;         // samples taken before the process's tables were loaded
  std::uint64_t ustacks_full = 0;        // walked stacks lost: the stack map was full
  std::uint64_t cfi_frames = 0;          // frames found through CFI
  std::uint64_t fp_frames = 0;           // frames found by frame pointer (code without CFI)
  std::vector<std::uint64_t> stops;      // walks ended, by enum ps_stop_reason
  std::uint64_t walks() const;           // the sum of `stops`
  std::uint64_t complete_walks() const;  // those that reached the outermost frame
  // Walks that stopped early, by (file, reason name), the most first when reported.
  std::map<std::pair<std::string, std::string>, std::uint64_t> stops_by_file;
  // The sampling program's own run time (kernel.bpf_stats_enabled=1 only, else 0).
  std::uint64_t program_run_ns = 0;
  std::uint64_t program_runs = 0;
  // Samples with a walked user stack per thread name: {complete, all}.
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> complete_by_comm;
};

// The name of a stop reason of the in-kernel walker (enum ps_stop_reason).
const char* stop_reason_name(std::uint32_t reason);

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
  // The unwind tables of cfi_unwind, or null. poll() them often: they load the processes the
  // program has just met; mark_changed() the processes that mapped code or exited.
  UnwindTables* unwind_tables() { return tables_.get(); }
  const UnwindTables* unwind_tables() const { return tables_.get(); }
  const ProfilerOptions& options() const { return options_; }  // after fallbacks
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  Profiler() = default;
  Status drain_generation(unsigned generation, sampling::Collector& collector,
                          std::uint64_t counted_at);
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
  // When the generation being written started taking counts (CLOCK_MONOTONIC, the side-band
  // events' clock): start(), then each switch.
  std::uint64_t generation_start_ns_ = 0;
  std::vector<std::uint64_t> stack_buffer_;
  std::vector<ps_count_key> keys_;  // batch buffers, kept between drains
  std::vector<ps_count_value> values_;
  std::uint64_t counts_full_seen_ = 0;
  // Per generation: the stacks read from its stack map and kept there, by id (an id is kept from
  // its second drain on: see drain_generation).
  std::unordered_map<std::int32_t, std::vector<std::uint64_t>> stack_cache_[2];
  // Per generation, by id: read and deleted in an earlier drain (cleared with the cache).
  std::vector<std::uint8_t> stack_seen_[2];
  // This drain's stacks read and deleted: id -> (offset, length) in once_frames_.
  std::unordered_map<std::int32_t, std::pair<std::uint32_t, std::uint32_t>> stack_once_;
  std::vector<std::uint64_t> once_frames_;
  // The kernel reads and deletes a stack map entry in one call (BPF_MAP_LOOKUP_AND_DELETE_ELEM on a
  // BPF_MAP_TYPE_STACK_TRACE map; older kernels refuse it): false once it refused.
  bool stack_lookup_and_delete_ = true;
  // Per generation: the walked user stacks read from its `ustacks` map, by hash.
  struct Walked {
    std::vector<std::uint64_t> frames;
    bool complete = false;
  };
  std::unordered_map<std::uint64_t, Walked> ustack_cache_[2];
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> complete_by_comm_;
  std::unique_ptr<UnwindTables> tables_;
};

}  // namespace perfscope::bpf
