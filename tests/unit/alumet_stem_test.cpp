// The symbolic event table: case-insensitive lookup and the Alumet metric stems (seed 002:
// perf_hardware_CPU_CYCLES, perf_software_PAGE_FAULTS, perf_cache_LL_READ_MISS).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "events/event_tables.hpp"

namespace perfscope::events {
namespace {

struct StemCase {
  const char* lookup;
  const char* stem;
};

TEST(AlumetMetricStem, FollowsThePluginNames) {
  const StemCase cases[] = {
      {"cycles", "hardware_CPU_CYCLES"},
      {"instructions", "hardware_INSTRUCTIONS"},
      {"branches", "hardware_BRANCH_INSTRUCTIONS"},
      {"ref-cycles", "hardware_REF_CPU_CYCLES"},
      {"idle-cycles-backend", "hardware_STALLED_CYCLES_BACKEND"},
      {"page-faults", "software_PAGE_FAULTS"},
      {"minor-faults", "software_PAGE_FAULTS_MIN"},
      {"major-faults", "software_PAGE_FAULTS_MAJ"},
      {"cs", "software_CONTEXT_SWITCHES"},
      {"cgroup-switches", "software_CGROUP_SWITCHES"},
      {"task-clock", "software_TASK_CLOCK"},
      {"LL_READ_MISS", "cache_LL_READ_MISS"},
      {"LLC-load-misses", "cache_LL_READ_MISS"},
      {"L1-dcache-loads", "cache_L1D_READ_ACCESS"},
      {"dTLB-prefetch-misses", "cache_DTLB_PREFETCH_MISS"},
      {"branch-loads", "cache_BPU_READ_ACCESS"},
      {"node-stores", "cache_NODE_WRITE_ACCESS"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.lookup);
    const NamedEvent* event = find_named_event(c.lookup);
    ASSERT_NE(event, nullptr);
    EXPECT_EQ(alumet_metric_stem(*event), c.stem);
  }
}

TEST(AlumetMetricStem, EveryEventHasADistinctStemOfItsKind) {
  std::set<std::string> stems;
  for (const NamedEvent& event : named_events()) {
    SCOPED_TRACE(event.name);
    const std::string stem = alumet_metric_stem(event);
    const std::string prefix = std::string(kind_name(event.kind)) + "_";
    EXPECT_EQ(stem.rfind(prefix, 0), 0u) << stem;
    const std::string tail = stem.substr(prefix.size());
    EXPECT_EQ(tail.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"), std::string::npos)
        << stem;
    EXPECT_TRUE(stems.insert(stem).second) << "duplicate stem " << stem;
  }
  // 10 hardware, 12 software, 42 cache events.
  EXPECT_EQ(stems.size(), 64u);
}

TEST(FindNamedEvent, IsCaseInsensitive) {
  const NamedEvent* cycles = find_named_event("cycles");
  ASSERT_NE(cycles, nullptr);
  EXPECT_EQ(cycles->name, "cycles");
  for (const char* spelling :
       {"CYCLES", "Cycles", "cpu-cycles", "CPU-CYCLES", "CPU_CYCLES", "cpu_cycles"}) {
    EXPECT_EQ(find_named_event(spelling), cycles) << spelling;
  }
  const NamedEvent* llc = find_named_event("llc-load-misses");
  ASSERT_NE(llc, nullptr);
  EXPECT_EQ(llc->name, "LLC-load-misses");
  EXPECT_EQ(find_named_event("ll_read_miss"), llc);
  EXPECT_EQ(find_named_event("LLC-LOAD-MISSES"), llc);
}

TEST(FindNamedEvent, UnknownIsNull) {
  for (const char* name : {"", "cyclse", "cycles:u", "r1a8", "sched:sched_switch", "LL_READ"}) {
    EXPECT_EQ(find_named_event(name), nullptr) << name;
  }
}

}  // namespace
}  // namespace perfscope::events
