#include "recording/profile_builder.hpp"

#include <fmt/format.h>
#include <linux/perf_event.h>

#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "core/files.hpp"
#include "recording/location_table.hpp"
#include "symbols/vdso.hpp"

namespace perfscope::recording {
namespace {

bool is_file_mapping(const std::string& path) {
  return !path.empty() && path.front() == '/' && path.rfind("//anon", 0) != 0 &&
         path.rfind("/memfd:", 0) != 0;
}

bool is_jit_region(const std::string& path) {
  return path == "//anon" || path.rfind("[anon", 0) == 0 || path.rfind("/memfd:", 0) == 0;
}

class Builder {
 public:
  Builder(const sampling::Collector& c, symbols::Symbolizer& s, profile::Profile& p)
      : collector_(c), symbolizer_(s), table_(p) {}

  std::uint64_t location(std::uint64_t address, bool kernel, bool leaf,
                         sampling::AddressSpaceId space_id) {
    // A return address points after the call; look up the call itself.
    const std::uint64_t lookup = leaf ? address : address - 1;
    if (kernel) {
      const auto& frames = symbolizer_.resolve_kernel(lookup);
      const std::string module = frames.empty() ? "[kernel.kallsyms]" : frames.back().module;
      return table_.add(table_.kernel_mapping(module), address, frames);
    }
    const auto& space = collector_.processes().space(space_id);
    const sampling::Mapping* m = space.find(address);
    if (m != nullptr && is_file_mapping(m->path)) {
      const auto mapping_id = file_mapping(*m);
      if (auto id = table_.find(mapping_id, address)) return *id;
      symbols::MappedFile file{
          m->path, open_path(space.pid, m->path), m->build_id, m->start, m->end, m->pgoff};
      return table_.add(mapping_id, address, symbolizer_.resolve_user(file, lookup));
    }
    if (m != nullptr && m->path == "[vdso]" && !symbols::vdso_image_path().empty()) {
      const auto mapping_id = file_mapping(*m);
      if (auto id = table_.find(mapping_id, address)) return *id;
      symbols::MappedFile file{"[vdso]", symbols::vdso_image_path(), {}, m->start, m->end,
                               m->pgoff};
      return table_.add(mapping_id, address, symbolizer_.resolve_user(file, lookup));
    }
    if (m != nullptr && !is_jit_region(m->path)) {  // [vsyscall], ...
      const auto mapping_id = file_mapping(*m);
      return table_.add(mapping_id, address,
                        {symbols::Symbolizer::unknown(m->path.substr(0, 40), m->path)});
    }
    // Anonymous memory or no mapping known: a JIT map is the only hope.
    const std::uint32_t tag = space_id + 1;
    if (auto id = table_.find(0, address, tag)) return *id;
    const auto& jit = symbolizer_.resolve_jit(space.pid, lookup);
    if (!jit.empty() && jit.front().resolved) return table_.add(0, address, jit, tag);
    std::string reason;
    if (m != nullptr) {
      reason = fmt::format("anonymous memory, no /tmp/perf-{}.map", space.pid);
    } else if (collector_.processes().exited(space.pid)) {
      reason = "process gone";
    } else if (space.mappings.empty()) {
      reason = "no mappings known for this process";
    } else {
      reason = "address outside every mapping";
    }
    return table_.add(0, address, {symbols::Symbolizer::unknown(reason)}, tag);
  }

  // The frame standing for a kernel or user stack the eBPF backend could not capture.
  std::uint64_t lost_stack(bool kernel) {
    const std::uint32_t tag = kernel ? 0xffffffffu : 0xfffffffeu;
    return table_.add(
        0, sampling::kStackLost,
        {symbols::Symbolizer::unknown(kernel ? "kernel stack lost: BPF stack map full or colliding"
                                             : "user stack lost: BPF stack map full or colliding")},
        tag);
  }

  std::uint64_t file_mapping(const sampling::Mapping& m) {
    return table_.file_mapping(m.path, m.build_id, m.start, m.end, m.pgoff);
  }

  // Files of a process that runs in another mount namespace (a container) are reached through
  // its /proc/PID/root while it lives; everyone else's through the path itself, which also works
  // after the process has exited.
  static std::string open_path(pid_t pid, const std::string& path) {
    if (pid <= 0) return {};
    const auto link = fmt::format("/proc/{}/root", pid);
    const std::string root = read_link(link);
    if (root.empty() || root == "/") return {};
    return link + path;
  }

  std::size_t unknown() const { return table_.unresolved(); }
  std::size_t locations() const { return table_.size(); }

 private:
  const sampling::Collector& collector_;
  symbols::Symbolizer& symbolizer_;
  LocationTable table_;
};

}  // namespace

profile::Profile build_profile(const sampling::Collector& collector,
                               symbols::Symbolizer& symbolizer, const ProfileInfo& info,
                               BuildStats* stats) {
  profile::Profile p;
  p.sample_types.push_back({p.intern("samples"), p.intern("count")});
  if (info.time_based) {
    p.sample_types.push_back({p.intern("cpu"), p.intern("nanoseconds")});
    p.period_type = {p.intern("cpu"), p.intern("nanoseconds")};
    p.period = info.frequency > 0 ? static_cast<std::int64_t>(1'000'000'000 / info.frequency)
                                  : static_cast<std::int64_t>(info.period);
  } else {
    p.sample_types.push_back({p.intern(info.event), p.intern("count")});
    p.period_type = {p.intern(info.event), p.intern("count")};
    p.period = static_cast<std::int64_t>(info.period);
  }
  p.time_nanos = info.time_nanos;
  p.duration_nanos = info.duration_nanos;
  for (const auto& c : info.comments) p.add_comment(c);

  const auto key_pid = p.intern("pid");
  const auto key_tid = p.intern("tid");
  const auto key_cpu = p.intern("cpu");
  const auto key_comm = p.intern("comm");

  Builder b(collector, symbolizer, p);
  const auto& stacks = collector.stacks();
  p.reserve_samples(stacks.entries().size());
  for (const auto& e : stacks.entries()) {
    profile::Sample s;
    bool kernel = false;  // call chains open with a context marker; until then, user space
    bool leaf = true;
    for (const std::uint64_t address : stacks.stack(e)) {
      if (address == sampling::kStackLost) {
        s.location_ids.push_back(b.lost_stack(kernel));
        leaf = false;
        continue;
      }
      if (address >= static_cast<std::uint64_t>(PERF_CONTEXT_MAX)) {
        kernel = address == static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL);
        continue;
      }
      s.location_ids.push_back(b.location(address, kernel, leaf, e.key.space));
      leaf = false;
    }
    s.values = {static_cast<std::int64_t>(e.count), static_cast<std::int64_t>(e.period)};
    s.labels = {
        {key_pid, 0, e.key.pid, 0},
        {key_tid, 0, e.key.tid, 0},
        {key_cpu, 0, e.key.cpu, 0},
        {key_comm,
         p.intern(collector.processes().thread_comm(static_cast<pid_t>(e.key.tid), e.key.space)), 0,
         0},
    };
    p.add_sample(std::move(s));
  }
  if (stats != nullptr) {
    stats->stacks = stacks.entries().size();
    stats->addresses = b.locations();
    stats->unknown = b.unknown();
  }
  return p;
}

}  // namespace perfscope::recording
