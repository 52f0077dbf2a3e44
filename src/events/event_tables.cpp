#include "events/event_tables.hpp"

#include <linux/perf_event.h>
#include <strings.h>

#include <unordered_map>

namespace perfscope::events {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return out;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

std::vector<NamedEvent> build() {
  std::vector<NamedEvent> v;
  auto hw = [&](std::string name, std::vector<std::string> aliases, std::uint64_t config,
                std::string description) {
    v.push_back({std::move(name), std::move(aliases), EventKind::hardware, PERF_TYPE_HARDWARE,
                 config, std::move(description)});
  };
  hw("cycles", {"cpu-cycles", "CPU_CYCLES"}, PERF_COUNT_HW_CPU_CYCLES, "CPU cycles");
  hw("instructions", {"INSTRUCTIONS"}, PERF_COUNT_HW_INSTRUCTIONS, "instructions retired");
  hw("cache-references", {"CACHE_REFERENCES"}, PERF_COUNT_HW_CACHE_REFERENCES,
     "cache accesses (usually last-level cache)");
  hw("cache-misses", {"CACHE_MISSES"}, PERF_COUNT_HW_CACHE_MISSES,
     "cache misses (usually last-level cache)");
  hw("branch-instructions", {"branches", "BRANCH_INSTRUCTIONS"}, PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
     "branch instructions retired");
  hw("branch-misses", {"BRANCH_MISSES"}, PERF_COUNT_HW_BRANCH_MISSES, "mispredicted branches");
  hw("bus-cycles", {"BUS_CYCLES"}, PERF_COUNT_HW_BUS_CYCLES, "bus cycles");
  hw("stalled-cycles-frontend", {"idle-cycles-frontend", "STALLED_CYCLES_FRONTEND"},
     PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, "cycles stalled in instruction issue");
  hw("stalled-cycles-backend", {"idle-cycles-backend", "STALLED_CYCLES_BACKEND"},
     PERF_COUNT_HW_STALLED_CYCLES_BACKEND, "cycles stalled in execution");
  hw("ref-cycles", {"REF_CPU_CYCLES"}, PERF_COUNT_HW_REF_CPU_CYCLES,
     "reference cycles, unaffected by frequency scaling");

  auto sw = [&](std::string name, std::vector<std::string> aliases, std::uint64_t config,
                std::string description) {
    v.push_back({std::move(name), std::move(aliases), EventKind::software, PERF_TYPE_SOFTWARE,
                 config, std::move(description)});
  };
  sw("cpu-clock", {"CPU_CLOCK"}, PERF_COUNT_SW_CPU_CLOCK, "CPU time, per-CPU clock (ns)");
  sw("task-clock", {"TASK_CLOCK"}, PERF_COUNT_SW_TASK_CLOCK, "CPU time of the task (ns)");
  sw("page-faults", {"faults", "PAGE_FAULTS"}, PERF_COUNT_SW_PAGE_FAULTS, "page faults");
  sw("context-switches", {"cs", "CONTEXT_SWITCHES"}, PERF_COUNT_SW_CONTEXT_SWITCHES,
     "context switches");
  sw("cpu-migrations", {"migrations", "CPU_MIGRATIONS"}, PERF_COUNT_SW_CPU_MIGRATIONS,
     "moves of a task to another CPU");
  sw("minor-faults", {"PAGE_FAULTS_MIN"}, PERF_COUNT_SW_PAGE_FAULTS_MIN,
     "page faults served without I/O");
  sw("major-faults", {"PAGE_FAULTS_MAJ"}, PERF_COUNT_SW_PAGE_FAULTS_MAJ,
     "page faults that did I/O");
  sw("alignment-faults", {"ALIGNMENT_FAULTS"}, PERF_COUNT_SW_ALIGNMENT_FAULTS,
     "unaligned accesses fixed up by the kernel");
  sw("emulation-faults", {"EMULATION_FAULTS"}, PERF_COUNT_SW_EMULATION_FAULTS,
     "instructions emulated by the kernel");
  sw("dummy", {"DUMMY"}, PERF_COUNT_SW_DUMMY, "counts nothing; carries side-band records");
  sw("bpf-output", {"BPF_OUTPUT"}, PERF_COUNT_SW_BPF_OUTPUT, "output of BPF programs");
  sw("cgroup-switches", {"CGROUP_SWITCHES"}, PERF_COUNT_SW_CGROUP_SWITCHES,
     "context switches to a task in another cgroup");

  struct Cache {
    const char* perf;
    const char* alumet;
    std::uint64_t id;
  };
  static constexpr Cache caches[] = {
      {"L1-dcache", "L1D", PERF_COUNT_HW_CACHE_L1D}, {"L1-icache", "L1I", PERF_COUNT_HW_CACHE_L1I},
      {"LLC", "LL", PERF_COUNT_HW_CACHE_LL},         {"dTLB", "DTLB", PERF_COUNT_HW_CACHE_DTLB},
      {"iTLB", "ITLB", PERF_COUNT_HW_CACHE_ITLB},    {"branch", "BPU", PERF_COUNT_HW_CACHE_BPU},
      {"node", "NODE", PERF_COUNT_HW_CACHE_NODE},
  };
  struct Op {
    const char* perf;  // singular; "s"/"-misses" are appended
    const char* plural;
    const char* alumet;
    std::uint64_t id;
  };
  static constexpr Op ops[] = {
      {"load", "loads", "READ", PERF_COUNT_HW_CACHE_OP_READ},
      {"store", "stores", "WRITE", PERF_COUNT_HW_CACHE_OP_WRITE},
      {"prefetch", "prefetches", "PREFETCH", PERF_COUNT_HW_CACHE_OP_PREFETCH},
  };
  for (const auto& c : caches) {
    for (const auto& op : ops) {
      for (std::uint64_t result : {std::uint64_t{PERF_COUNT_HW_CACHE_RESULT_ACCESS},
                                   std::uint64_t{PERF_COUNT_HW_CACHE_RESULT_MISS}}) {
        const bool miss = result == PERF_COUNT_HW_CACHE_RESULT_MISS;
        std::string name = std::string(c.perf) + "-" +
                           (miss ? std::string(op.perf) + "-misses" : std::string(op.plural));
        std::string alumet =
            std::string(c.alumet) + "_" + op.alumet + "_" + (miss ? "MISS" : "ACCESS");
        v.push_back({std::move(name),
                     {std::move(alumet)},
                     EventKind::cache,
                     PERF_TYPE_HW_CACHE,
                     c.id | (op.id << 8) | (result << 16),
                     std::string(c.perf) + " " + op.plural + (miss ? " that missed" : "")});
      }
    }
  }
  return v;
}

}  // namespace

const std::vector<NamedEvent>& named_events() {
  static const std::vector<NamedEvent> events = build();
  return events;
}

const NamedEvent* find_named_event(std::string_view name) {
  static const auto index = [] {
    std::unordered_map<std::string, const NamedEvent*> m;
    for (const auto& e : named_events()) {
      m.emplace(lower(e.name), &e);
      for (const auto& a : e.aliases) m.emplace(lower(a), &e);
    }
    return m;
  }();
  const auto it = index.find(lower(name));
  return it == index.end() ? nullptr : it->second;
}

std::string alumet_metric_stem(const NamedEvent& event) {
  // The Alumet alias is the one spelled in capitals with underscores.
  std::string alumet;
  for (const auto& a : event.aliases) {
    if (!a.empty() && a == upper(a)) alumet = a;
  }
  if (alumet.empty()) alumet = upper(event.name);
  for (auto& c : alumet) c = c == '-' ? '_' : c;
  return std::string(kind_name(event.kind)) + "_" + alumet;
}

}  // namespace perfscope::events
