#include "bpf/profiler.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "bpf/libbpf_log.hpp"
#include "core/files.hpp"
#include "core/perf_syscall.hpp"
#include "profile.skel.h"
#include "profile_abi.h"
#include "sampling/session.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::bpf {

std::string unavailable_reason(const system::Capabilities& caps) {
  const bool can_bpf = caps.has(system::Cap::bpf) || caps.has(system::Cap::sys_admin);
  if (!can_bpf || !caps.perfmon()) {
    return fmt::format(
        "loading BPF programs needs CAP_BPF and CAP_PERFMON (or root), and this process has {}{}: "
        "run as root, or give the binary the capabilities: sudo setcap "
        "cap_perfmon,cap_bpf,cap_syslog=ep {}",
        can_bpf ? "CAP_BPF only" : (caps.perfmon() ? "CAP_PERFMON only" : "neither"),
        caps.unprivileged_bpf_disabled > 0 ? " (unprivileged BPF is disabled)" : "",
        system::self_executable_path());
  }
  if (!caps.btf) {
    return "the kernel has no BTF (/sys/kernel/btf/vmlinux), which the CO-RE programs need: use a "
           "kernel built with CONFIG_DEBUG_INFO_BTF=y";
  }
  return {};
}

void Profiler::SkeletonDeleter::operator()(perfscope_profile* skel) const {
  perfscope_profile__destroy(skel);
}
void Profiler::LinkDeleter::operator()(bpf_link* link) const {
  bpf_link__destroy(link);
}

Profiler::Profiler(Profiler&&) noexcept = default;
Profiler& Profiler::operator=(Profiler&&) noexcept = default;
Profiler::~Profiler() {
  // Links before the skeleton: detaching needs the programs alive.
  sampling_links_.clear();
  tracepoint_links_.clear();
}

Result<Profiler> Profiler::open(ProfilerOptions options, const system::Capabilities& caps) {
  if (auto why = unavailable_reason(caps); !why.empty()) {
    return Error{"load the eBPF profiler", EPERM, "  " + why};
  }
  Profiler p;
  sampling::apply_event_fallbacks(options.event, options.frequency, caps, p.notes_);
  p.options_ = std::move(options);
  const auto& o = p.options_;

  capture_libbpf_output();
  p.skel_.reset(perfscope_profile__open());
  if (!p.skel_) {
    return Error{"open the eBPF profiler", errno,
                 "  libbpf could not open the embedded object" + libbpf_tail()};
  }
  auto& skel = *p.skel_;
  skel.rodata->filter_targets = !o.targets.empty();
  skel.rodata->kernel_stacks = o.kernel_stacks;
  skel.rodata->skip_idle = o.skip_idle;
  for (auto* map : {skel.maps.counts0, skel.maps.counts1}) {
    bpf_map__set_max_entries(map, o.count_entries);
  }
  for (auto* map : {skel.maps.stacks0, skel.maps.stacks1}) {
    bpf_map__set_max_entries(map, o.stack_entries);
  }
  if (int err = perfscope_profile__load(p.skel_.get()); err != 0) {
    const int e = err < 0 ? -err : err;
    return Error{"load the eBPF profiler", e,
                 fmt::format("  the kernel refused the BPF programs (for the details: perfscope "
                             "doctor --need ebpf){}",
                             libbpf_tail())};
  }
  const std::uint8_t yes = 1;
  for (pid_t pid : o.targets) {
    const auto key = static_cast<std::uint32_t>(pid);
    if (bpf_map__update_elem(skel.maps.targets, &key, sizeof(key), &yes, sizeof(yes), BPF_ANY) !=
        0) {
      return Error{"add target process to the eBPF filter", errno, ""};
    }
  }
  p.stack_buffer_.resize(PS_MAX_STACK_DEPTH);
  return p;
}

Status Profiler::start() {
  auto& skel = *skel_;
  for (auto* prog : {skel.progs.on_fork, skel.progs.on_exec}) {
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      return Error{fmt::format("attach {}", bpf_program__name(prog)), errno, libbpf_tail()};
    }
    tracepoint_links_.emplace_back(link);
  }
  perf_event_attr a = options_.event.attr();
  a.freq = 1;
  a.sample_freq = options_.frequency;
  if (!options_.kernel_stacks) a.exclude_kernel = 1;
  const auto& caps = system::Capabilities::current();
  for (int cpu : options_.cpus) {
    auto fd = perf_event_open(a, -1, cpu, -1,
                              fmt::format("{} sampling for BPF", options_.event.display_name()));
    if (!fd)
      return system::explain_open_failure(fd.error(), a, -1, cpu, options_.event.display_name(),
                                          caps);
    // The link owns the event from here: destroying it disables and closes the event.
    const int raw = fd->release();
    bpf_link* link = bpf_program__attach_perf_event(skel.progs.on_sample, raw);
    if (link == nullptr) {
      const int e = errno;
      ::close(raw);
      return Error{fmt::format("attach the BPF program to CPU {}", cpu), e, libbpf_tail()};
    }
    sampling_links_.emplace_back(link);
  }
  return {};
}

void Profiler::stop() {
  sampling_links_.clear();
}

Status Profiler::drain(sampling::Collector& collector, const std::function<void()>& after_switch) {
  const unsigned old = generation_;
  generation_ ^= 1U;
  skel_->bss->generation = generation_;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  // A program that read the old generation just before the switch is still running for a few
  // microseconds (perf_event programs run in interrupt context and cannot sleep); give it far
  // more than that before the old maps are read and cleared.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (after_switch) after_switch();
  return drain_generation(old, collector);
}

Status Profiler::drain_generation(unsigned generation, sampling::Collector& collector) {
  auto& skel = *skel_;
  bpf_map* counts = generation & 1U ? skel.maps.counts1 : skel.maps.counts0;
  bpf_map* stacks = generation & 1U ? skel.maps.stacks1 : skel.maps.stacks0;
  const int counts_fd = bpf_map__fd(counts);
  const int stacks_fd = bpf_map__fd(stacks);

  // Every entry, read and deleted a few thousand per system call.
  constexpr std::uint32_t kBatch = 4096;
  keys_.resize(kBatch);
  values_.resize(kBatch);
  std::vector<ps_count_key> keys;
  std::vector<ps_count_value> values;
  std::uint64_t token = 0;  // the kernel's position in the hash (a bucket index)
  bool first = true;
  for (;;) {
    std::uint32_t n = kBatch;
    const int rc = bpf_map_lookup_and_delete_batch(counts_fd, first ? nullptr : &token, &token,
                                                   keys_.data(), values_.data(), &n, nullptr);
    const int e = rc == 0 ? 0 : errno;
    keys.insert(keys.end(), keys_.begin(), keys_.begin() + n);
    values.insert(values.end(), values_.begin(), values_.begin() + n);
    first = false;
    if (rc == 0) continue;
    if (e == ENOENT) break;                // the whole map was read
    if (e == EINVAL || e == EOPNOTSUPP) {  // ENOTSUP is the same number on Linux
      // Kernels before 5.6 have no batch operations: one key at a time.
      ps_count_key key{}, next{};
      const ps_count_key* prev = nullptr;
      std::vector<ps_count_key> rest;
      while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
        rest.push_back(next);
        key = next;
        prev = &key;
      }
      for (const auto& k : rest) {
        ps_count_value v{};
        if (bpf_map_lookup_elem(counts_fd, &k, &v) != 0) continue;
        (void)bpf_map_delete_elem(counts_fd, &k);
        keys.push_back(k);
        values.push_back(v);
      }
      break;
    }
    return Error{"read the eBPF sample counts", e, ""};
  }

  // Each stack id is read once, and kept while the generation's stack map keeps it: the kernel
  // never replaces a stored stack (no BPF_F_REUSE_STACKID), so an id means the same stack until
  // perfscope deletes it. A steady workload's stacks are then read once per recording.
  auto& stack_cache = stack_cache_[generation & 1U];
  const auto stack_of = [&](std::int32_t id) -> const std::vector<std::uint64_t>& {
    auto [it, inserted] = stack_cache.try_emplace(id);
    if (inserted) {
      const auto sid = static_cast<std::uint32_t>(id);
      std::fill(stack_buffer_.begin(), stack_buffer_.end(), 0);
      if (bpf_map_lookup_elem(stacks_fd, &sid, stack_buffer_.data()) == 0) {
        for (std::uint64_t ip : stack_buffer_) {
          if (ip == 0) break;
          it->second.push_back(ip);
        }
      }
    }
    return it->second;
  };

  std::vector<std::uint64_t> chain;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    chain.clear();
    // Leaf first, kernel part then user part, each opened by its context marker: the same shape
    // as a perf call chain, so the profile builder treats both backends alike.
    const auto add_part = [&](std::int32_t id, std::uint64_t context) {
      if (id == PS_NO_STACK) return;
      if (id >= 0) {
        const auto& frames = stack_of(id);
        if (frames.empty()) return;
        chain.push_back(context);
        chain.insert(chain.end(), frames.begin(), frames.end());
      } else if (id == -EEXIST || id == -ENOMEM) {
        chain.push_back(context);
        chain.push_back(sampling::kStackLost);
      }
      // -EFAULT: no frames of this kind (a user-space sample has no kernel stack).
    };
    add_part(k.kernel_stack, static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL));
    add_part(k.user_stack, static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    const std::string_view comm(k.comm, strnlen(k.comm, sizeof(k.comm)));
    collector.add_aggregated(k.tgid, k.pid, k.cpu, k.exec_time, comm, chain, values[i].count,
                             values[i].period);
  }

  // Stored stacks make new ones collide (a stack's bucket is its hash modulo the map size), so
  // once the cache holds an eighth of the map, the idle generation's stacks are all freed. A
  // stack whose sample then found the counts map full has no key and is not in the cache: a full
  // walk finds those.
  if (stack_cache.size() > options_.stack_entries / 8) {
    for (const auto& [id, frames] : stack_cache) {
      const auto sid = static_cast<std::uint32_t>(id);
      (void)bpf_map_delete_elem(stacks_fd, &sid);
    }
    stack_cache.clear();
  }
  const auto full = stat_sum(PS_STAT_COUNTS_FULL);
  if (full != counts_full_seen_) {
    counts_full_seen_ = full;
    stack_cache.clear();
    std::vector<std::uint32_t> ids;
    std::uint32_t id = 0, next_id = 0;
    const std::uint32_t* prev_id = nullptr;
    while (bpf_map_get_next_key(stacks_fd, prev_id, &next_id) == 0) {
      ids.push_back(next_id);
      id = next_id;
      prev_id = &id;
    }
    for (std::uint32_t sid : ids) (void)bpf_map_delete_elem(stacks_fd, &sid);
  }
  return {};
}

std::uint64_t Profiler::stat_sum(std::uint32_t slot) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return 0;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &slot, per_cpu.data()) != 0) return 0;
  std::uint64_t sum = 0;
  for (std::uint64_t v : per_cpu) sum += v;
  return sum;
}

ProfilerStats Profiler::stats() const {
  ProfilerStats s;
  s.samples = stat_sum(PS_STAT_SAMPLES);
  s.idle = stat_sum(PS_STAT_IDLE);
  s.kernel_stack_collisions = stat_sum(PS_STAT_KSTACK_COLLISION);
  s.kernel_stack_errors = stat_sum(PS_STAT_KSTACK_ERROR);
  s.user_stack_collisions = stat_sum(PS_STAT_USTACK_COLLISION);
  s.user_stack_errors = stat_sum(PS_STAT_USTACK_ERROR);
  s.counts_full = stat_sum(PS_STAT_COUNTS_FULL);
  s.filtered = stat_sum(PS_STAT_FILTERED);
  s.new_targets = stat_sum(PS_STAT_NEW_TARGETS);
  s.execs = stat_sum(PS_STAT_EXECS);
  return s;
}

}  // namespace perfscope::bpf
