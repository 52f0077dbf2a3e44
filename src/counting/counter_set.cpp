#include "counting/counter_set.hpp"

#include <fmt/format.h>

#include <sched.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "system/capabilities.hpp"

namespace perfscope::counting {

std::string unsupported_reason(const Error& failure, const events::EventSpec& spec) {
  const int e = failure.errnum;
  if (e != ENOENT && e != EOPNOTSUPP && e != ENODEV && e != EINVAL) return {};
  const auto& caps = system::Capabilities::current();
  const bool hw = spec.type == PERF_TYPE_HARDWARE || spec.type == PERF_TYPE_HW_CACHE ||
                  spec.type == PERF_TYPE_RAW;
  if (hw && !caps.hardware_pmu) return "no hardware PMU on this machine (virtualized?)";
  return std::strerror(e);
}

Result<CounterSet> CounterSet::open(std::span<const events::EventGroupSpec> groups,
                                    std::span<const Target> targets, const CounterOptions& options,
                                    bool tolerate_vanished) {
  CounterSet s;
  for (const auto& g : groups) {
    std::vector<std::size_t> slot_ids;
    for (const auto& spec : g.events) {
      slot_ids.push_back(s.slots_.size());
      s.slots_.push_back({spec, true, {}});
    }
    auto set_unsupported = [&](const std::string& reason, std::size_t i) {
      s.slots_[slot_ids[i]].supported = false;
      s.slots_[slot_ids[i]].reason = reason;
    };
    bool first = true;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const Target& target = targets[t];
      auto opened = CounterGroup::open(g.events, target, options);
      if (!opened) {
        const Error& e = opened.error();
        const bool kernel_only_refused =
            (e.errnum == EACCES || e.errnum == EPERM) && target.pid != -1 && target.cgroup_fd < 0 &&
            std::any_of(g.events.begin(), g.events.end(), counts_kernel_activity);
        if (first && kernel_only_refused) {
          for (std::size_t i = 0; i < slot_ids.size(); ++i) {
            set_unsupported(
                fmt::format("counts kernel activity: needs perf_event_paranoid <= 1 or CAP_PERFMON "
                            "(now {}; perfscope doctor --need profile-own)",
                            system::Capabilities::current().paranoid),
                i);
          }
          break;
        }
        if (first && !unsupported_reason(e, g.events.front()).empty()) {
          // The whole group is unusable; name the reason once per member.
          for (std::size_t i = 0; i < slot_ids.size(); ++i)
            set_unsupported(unsupported_reason(e, g.events[i]), i);
          break;
        }
        // A thread of a -p process may exit between listing and opening.
        if (tolerate_vanished && e.errnum == ESRCH) continue;
        return opened.error();
      }
      if (first) {
        for (std::size_t i = 0; i < slot_ids.size(); ++i)
          s.slots_[slot_ids[i]].spec = opened->specs()[i];
      }
      first = false;
      CounterInstance inst{std::move(*opened), t, target.cpu, slot_ids, {}, {}};
      inst.previous.assign(slot_ids.size(), {});
      inst.current.assign(slot_ids.size(), {});
      s.instances_.push_back(std::move(inst));
    }
  }
  s.read_order_.resize(s.instances_.size());
  for (std::size_t i = 0; i < s.read_order_.size(); ++i) s.read_order_[i] = i;
  std::stable_sort(s.read_order_.begin(), s.read_order_.end(), [&](std::size_t a, std::size_t b) {
    const int ca = s.instances_[a].cpu, cb = s.instances_[b].cpu;
    return (ca < 0 ? INT_MAX : ca) < (cb < 0 ? INT_MAX : cb);
  });
  return s;
}

Status CounterSet::read() {
  cpu_set_t own;
  CPU_ZERO(&own);
  const bool can_move = std::any_of(instances_.begin(), instances_.end(),
                                    [](const CounterInstance& i) { return i.cpu >= 0; }) &&
                        ::sched_getaffinity(0, sizeof own, &own) == 0;
  bool moved = false;
  int here = -1;
  Status status;
  for (std::size_t index : read_order_) {
    CounterInstance& inst = instances_[index];
    if (can_move && inst.cpu >= 0 && inst.cpu != here && inst.cpu < CPU_SETSIZE) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(inst.cpu, &one);
      // Not allowed there (a cpuset): the read still works, from afar.
      moved = ::sched_setaffinity(0, sizeof one, &one) == 0 || moved;
      here = inst.cpu;
    }
    std::swap(inst.previous, inst.current);
    if (auto st = inst.group.read_into(inst.current); !st) {
      status = st;
      break;
    }
  }
  if (moved) (void)::sched_setaffinity(0, sizeof own, &own);
  return status;
}

bool CounterSet::any_supported() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const EventSlot& s) { return s.supported; });
}

}  // namespace perfscope::counting
