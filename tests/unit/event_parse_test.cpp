// parse_event: every family of event name, checked against the attr values of linux/perf_event.h.
#include <gtest/gtest.h>
#include <linux/perf_event.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "events/event_spec.hpp"
#include "unit/synthetic_event_fs.hpp"

namespace perfscope::events {
namespace {

// Symbolic names need no files; a context pointing nowhere keeps parsing off the machine's own
// sysfs and tracefs (and off the Capabilities probe the default context runs).
ParseContext no_files() {
  return ParseContext{.event_sources = "/nonexistent/perfscope-unit/devices", .tracefs = ""};
}

// A gtest parameter name from an event name: "L1-dcache-loads" -> "L1_dcache_loads".
std::string test_name(std::string text) {
  for (auto& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return text;
}

// attr.config of a PERF_TYPE_HW_CACHE event, as perf_event_open(2) defines it.
constexpr std::uint64_t cache_config(std::uint64_t id, std::uint64_t op, std::uint64_t result) {
  return id | (op << 8) | (result << 16);
}

struct NamedCase {
  const char* text;
  const char* canonical;
  EventKind kind;
  std::uint32_t type;
  std::uint64_t config;
};

std::ostream& operator<<(std::ostream& os, const NamedCase& c) {
  return os << c.text;
}

void expect_unmodified(const EventSpec& spec) {
  EXPECT_EQ(spec.modifiers, "");
  EXPECT_FALSE(spec.exclude_user);
  EXPECT_FALSE(spec.exclude_kernel);
  EXPECT_FALSE(spec.exclude_hv);
  EXPECT_EQ(spec.config1, 0u);
  EXPECT_EQ(spec.config2, 0u);
}

class NamedEventParse : public ::testing::TestWithParam<NamedCase> {};

TEST_P(NamedEventParse, HasExactTypeAndConfig) {
  const NamedCase& c = GetParam();
  auto spec = parse_event(c.text, no_files());
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->name, c.canonical);
  EXPECT_EQ(spec->kind, c.kind);
  EXPECT_EQ(spec->type, c.type);
  EXPECT_EQ(spec->config, c.config);
  EXPECT_EQ(spec->display_name(), c.canonical);
  expect_unmodified(*spec);
}

std::string named_case_name(const ::testing::TestParamInfo<NamedCase>& info) {
  return test_name(info.param.text);
}

constexpr auto kHw = EventKind::hardware;
constexpr auto kSw = EventKind::software;
constexpr std::uint32_t kHwType = PERF_TYPE_HARDWARE;
constexpr std::uint32_t kSwType = PERF_TYPE_SOFTWARE;

const NamedCase kPerfHardware[] = {
    {"cycles", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"cpu-cycles", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"instructions", "instructions", kHw, kHwType, PERF_COUNT_HW_INSTRUCTIONS},
    {"cache-references", "cache-references", kHw, kHwType, PERF_COUNT_HW_CACHE_REFERENCES},
    {"cache-misses", "cache-misses", kHw, kHwType, PERF_COUNT_HW_CACHE_MISSES},
    {"branch-instructions", "branch-instructions", kHw, kHwType, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"branches", "branch-instructions", kHw, kHwType, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"branch-misses", "branch-misses", kHw, kHwType, PERF_COUNT_HW_BRANCH_MISSES},
    {"bus-cycles", "bus-cycles", kHw, kHwType, PERF_COUNT_HW_BUS_CYCLES},
    {"stalled-cycles-frontend", "stalled-cycles-frontend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_FRONTEND},
    {"idle-cycles-frontend", "stalled-cycles-frontend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_FRONTEND},
    {"stalled-cycles-backend", "stalled-cycles-backend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_BACKEND},
    {"idle-cycles-backend", "stalled-cycles-backend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_BACKEND},
    {"ref-cycles", "ref-cycles", kHw, kHwType, PERF_COUNT_HW_REF_CPU_CYCLES},
};
INSTANTIATE_TEST_SUITE_P(PerfHardware, NamedEventParse, ::testing::ValuesIn(kPerfHardware),
                         named_case_name);

const NamedCase kPerfSoftware[] = {
    {"cpu-clock", "cpu-clock", kSw, kSwType, PERF_COUNT_SW_CPU_CLOCK},
    {"task-clock", "task-clock", kSw, kSwType, PERF_COUNT_SW_TASK_CLOCK},
    {"page-faults", "page-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS},
    {"faults", "page-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS},
    {"minor-faults", "minor-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"major-faults", "major-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    {"context-switches", "context-switches", kSw, kSwType, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cs", "context-switches", kSw, kSwType, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cpu-migrations", "cpu-migrations", kSw, kSwType, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"migrations", "cpu-migrations", kSw, kSwType, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"alignment-faults", "alignment-faults", kSw, kSwType, PERF_COUNT_SW_ALIGNMENT_FAULTS},
    {"emulation-faults", "emulation-faults", kSw, kSwType, PERF_COUNT_SW_EMULATION_FAULTS},
    {"cgroup-switches", "cgroup-switches", kSw, kSwType, PERF_COUNT_SW_CGROUP_SWITCHES},
    {"dummy", "dummy", kSw, kSwType, PERF_COUNT_SW_DUMMY},
    {"bpf-output", "bpf-output", kSw, kSwType, PERF_COUNT_SW_BPF_OUTPUT},
};
INSTANTIATE_TEST_SUITE_P(PerfSoftware, NamedEventParse, ::testing::ValuesIn(kPerfSoftware),
                         named_case_name);

// The names of the Alumet perf plugin (seed 002): perf_hardware_{...}, perf_software_{...}.
const NamedCase kAlumetNamed[] = {
    {"CPU_CYCLES", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"INSTRUCTIONS", "instructions", kHw, kHwType, PERF_COUNT_HW_INSTRUCTIONS},
    {"CACHE_REFERENCES", "cache-references", kHw, kHwType, PERF_COUNT_HW_CACHE_REFERENCES},
    {"CACHE_MISSES", "cache-misses", kHw, kHwType, PERF_COUNT_HW_CACHE_MISSES},
    {"BRANCH_INSTRUCTIONS", "branch-instructions", kHw, kHwType, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"BRANCH_MISSES", "branch-misses", kHw, kHwType, PERF_COUNT_HW_BRANCH_MISSES},
    {"BUS_CYCLES", "bus-cycles", kHw, kHwType, PERF_COUNT_HW_BUS_CYCLES},
    {"STALLED_CYCLES_FRONTEND", "stalled-cycles-frontend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_FRONTEND},
    {"STALLED_CYCLES_BACKEND", "stalled-cycles-backend", kHw, kHwType,
     PERF_COUNT_HW_STALLED_CYCLES_BACKEND},
    {"REF_CPU_CYCLES", "ref-cycles", kHw, kHwType, PERF_COUNT_HW_REF_CPU_CYCLES},
    {"PAGE_FAULTS", "page-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS},
    {"CONTEXT_SWITCHES", "context-switches", kSw, kSwType, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"CPU_MIGRATIONS", "cpu-migrations", kSw, kSwType, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"PAGE_FAULTS_MIN", "minor-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"PAGE_FAULTS_MAJ", "major-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    {"ALIGNMENT_FAULTS", "alignment-faults", kSw, kSwType, PERF_COUNT_SW_ALIGNMENT_FAULTS},
    {"EMULATION_FAULTS", "emulation-faults", kSw, kSwType, PERF_COUNT_SW_EMULATION_FAULTS},
    {"CGROUP_SWITCHES", "cgroup-switches", kSw, kSwType, PERF_COUNT_SW_CGROUP_SWITCHES},
};
INSTANTIATE_TEST_SUITE_P(Alumet, NamedEventParse, ::testing::ValuesIn(kAlumetNamed),
                         named_case_name);

// Symbolic names are case-insensitive in every spelling.
const NamedCase kMixedCase[] = {
    {"CYCLES", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"Cpu-Cycles", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"cpu_cycles", "cycles", kHw, kHwType, PERF_COUNT_HW_CPU_CYCLES},
    {"Page-Faults", "page-faults", kSw, kSwType, PERF_COUNT_SW_PAGE_FAULTS},
    {"CS", "context-switches", kSw, kSwType, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"Task-Clock", "task-clock", kSw, kSwType, PERF_COUNT_SW_TASK_CLOCK},
    {"llc-LOAD-misses", "LLC-load-misses", EventKind::cache, PERF_TYPE_HW_CACHE,
     cache_config(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ,
                  PERF_COUNT_HW_CACHE_RESULT_MISS)},
    {"l1d_read_miss", "L1-dcache-load-misses", EventKind::cache, PERF_TYPE_HW_CACHE,
     cache_config(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ,
                  PERF_COUNT_HW_CACHE_RESULT_MISS)},
};
INSTANTIATE_TEST_SUITE_P(CaseInsensitive, NamedEventParse, ::testing::ValuesIn(kMixedCase),
                         named_case_name);

// Cache events, literal configs: a wrong PERF_COUNT_HW_CACHE_* constant shows here.
const NamedCase kCacheLiterals[] = {
    {"L1-dcache-loads", "L1-dcache-loads", EventKind::cache, PERF_TYPE_HW_CACHE, 0x00000},
    {"L1-dcache-load-misses", "L1-dcache-load-misses", EventKind::cache, PERF_TYPE_HW_CACHE,
     0x10000},
    {"LLC-stores", "LLC-stores", EventKind::cache, PERF_TYPE_HW_CACHE, 0x00102},
    {"dTLB-prefetch-misses", "dTLB-prefetch-misses", EventKind::cache, PERF_TYPE_HW_CACHE, 0x10203},
    {"iTLB-loads", "iTLB-loads", EventKind::cache, PERF_TYPE_HW_CACHE, 0x00004},
    {"branch-loads", "branch-loads", EventKind::cache, PERF_TYPE_HW_CACHE, 0x00005},
    {"node-load-misses", "node-load-misses", EventKind::cache, PERF_TYPE_HW_CACHE, 0x10006},
    {"L1-icache-prefetches", "L1-icache-prefetches", EventKind::cache, PERF_TYPE_HW_CACHE, 0x00201},
    {"LL_READ_MISS", "LLC-load-misses", EventKind::cache, PERF_TYPE_HW_CACHE, 0x10002},
};
INSTANTIATE_TEST_SUITE_P(CacheLiterals, NamedEventParse, ::testing::ValuesIn(kCacheLiterals),
                         named_case_name);

// All 42 Alumet cache combinations {cache}_{op}_{result}, each against the perf cache name that
// spells the same event and the config computed from the kernel constants.
struct CacheCombo {
  std::string alumet;  // "LL_READ_MISS"
  std::string perf;    // "LLC-load-misses"
  std::uint64_t config;
};

std::ostream& operator<<(std::ostream& os, const CacheCombo& c) {
  return os << c.alumet;
}

std::vector<CacheCombo> all_cache_combos() {
  struct Cache {
    const char* alumet;
    const char* perf;
    std::uint64_t id;
  };
  const Cache caches[] = {
      {"L1D", "L1-dcache", PERF_COUNT_HW_CACHE_L1D}, {"L1I", "L1-icache", PERF_COUNT_HW_CACHE_L1I},
      {"LL", "LLC", PERF_COUNT_HW_CACHE_LL},         {"DTLB", "dTLB", PERF_COUNT_HW_CACHE_DTLB},
      {"ITLB", "iTLB", PERF_COUNT_HW_CACHE_ITLB},    {"BPU", "branch", PERF_COUNT_HW_CACHE_BPU},
      {"NODE", "node", PERF_COUNT_HW_CACHE_NODE},
  };
  struct Op {
    const char* alumet;
    const char* perf_access;  // perf's name for the access count
    const char* perf_miss;    // perf's name for the miss count
    std::uint64_t id;
  };
  const Op ops[] = {
      {"READ", "loads", "load-misses", PERF_COUNT_HW_CACHE_OP_READ},
      {"WRITE", "stores", "store-misses", PERF_COUNT_HW_CACHE_OP_WRITE},
      {"PREFETCH", "prefetches", "prefetch-misses", PERF_COUNT_HW_CACHE_OP_PREFETCH},
  };
  std::vector<CacheCombo> out;
  for (const auto& cache : caches) {
    for (const auto& op : ops) {
      const std::string alumet = std::string(cache.alumet) + "_" + op.alumet;
      const std::string perf = std::string(cache.perf) + "-";
      out.push_back({alumet + "_ACCESS", perf + op.perf_access,
                     cache_config(cache.id, op.id, PERF_COUNT_HW_CACHE_RESULT_ACCESS)});
      out.push_back({alumet + "_MISS", perf + op.perf_miss,
                     cache_config(cache.id, op.id, PERF_COUNT_HW_CACHE_RESULT_MISS)});
    }
  }
  return out;
}

class CacheComboParse : public ::testing::TestWithParam<CacheCombo> {};

TEST_P(CacheComboParse, AlumetAndPerfNamesAreTheSameEvent) {
  const CacheCombo& c = GetParam();
  auto alumet = parse_event(c.alumet, no_files());
  ASSERT_TRUE(alumet) << alumet.error().describe();
  auto perf = parse_event(c.perf, no_files());
  ASSERT_TRUE(perf) << perf.error().describe();
  EXPECT_EQ(alumet->kind, EventKind::cache);
  EXPECT_EQ(alumet->type, std::uint32_t{PERF_TYPE_HW_CACHE});
  EXPECT_EQ(alumet->config, c.config);
  EXPECT_EQ(alumet->name, c.perf);
  expect_unmodified(*alumet);
  EXPECT_EQ(*perf, *alumet);
}

TEST(CacheCombos, ThereAreFortyTwo) {
  EXPECT_EQ(all_cache_combos().size(), 42u);
}

INSTANTIATE_TEST_SUITE_P(Alumet, CacheComboParse, ::testing::ValuesIn(all_cache_combos()),
                         [](const ::testing::TestParamInfo<CacheCombo>& p) {
                           return p.param.alumet;
                         });

// Modifiers, perf semantics: naming any of u/k/h counts only the named levels.
struct ModifierCase {
  const char* text;
  const char* display;
  const char* modifiers;
  bool exclude_user;
  bool exclude_kernel;
  bool exclude_hv;
};

std::ostream& operator<<(std::ostream& os, const ModifierCase& c) {
  return os << c.text;
}

class ModifierParse : public ::testing::TestWithParam<ModifierCase> {};

TEST_P(ModifierParse, SetsExclusions) {
  const ModifierCase& c = GetParam();
  auto spec = parse_event(c.text, no_files());
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->display_name(), c.display);
  EXPECT_EQ(spec->modifiers, c.modifiers);
  EXPECT_EQ(spec->exclude_user, c.exclude_user);
  EXPECT_EQ(spec->exclude_kernel, c.exclude_kernel);
  EXPECT_EQ(spec->exclude_hv, c.exclude_hv);
}

const ModifierCase kModifiers[] = {
    {"cycles", "cycles", "", false, false, false},
    {"cycles:u", "cycles:u", "u", false, true, true},
    {"cycles:k", "cycles:k", "k", true, false, true},
    {"cycles:h", "cycles:h", "h", true, true, false},
    {"cycles:uk", "cycles:uk", "uk", false, false, true},
    {"cycles:ku", "cycles:uk", "uk", false, false, true},
    {"cycles:uh", "cycles:uh", "uh", false, true, false},
    {"cycles:ukh", "cycles:ukh", "ukh", false, false, false},
    {"INSTRUCTIONS:u", "instructions:u", "u", false, true, true},
    {"page-faults:k", "page-faults:k", "k", true, false, true},
    {"L1-dcache-load-misses:u", "L1-dcache-load-misses:u", "u", false, true, true},
    {"LL_READ_MISS:k", "LLC-load-misses:k", "k", true, false, true},
    {"r1a8:u", "r1a8:u", "u", false, true, true},
    {" task-clock:u ", "task-clock:u", "u", false, true, true},
};
INSTANTIATE_TEST_SUITE_P(Symbolic, ModifierParse, ::testing::ValuesIn(kModifiers),
                         [](const ::testing::TestParamInfo<ModifierCase>& p) {
                           return test_name(p.param.text);
                         });

struct RawCase {
  const char* text;
  const char* name;
  std::uint64_t config;
};

TEST(RawEventParse, HexConfig) {
  const RawCase cases[] = {
      {"r1a8", "r1a8", 0x1a8},
      {"r0x412e", "r412e", 0x412e},
      {"r0", "r0", 0},
      {"rFF", "rff", 0xff},
      {"rffffffffffffffff", "rffffffffffffffff", ~std::uint64_t{0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto spec = parse_event(c.text, no_files());
    ASSERT_TRUE(spec) << spec.error().describe();
    EXPECT_EQ(spec->kind, EventKind::raw);
    EXPECT_EQ(spec->type, std::uint32_t{PERF_TYPE_RAW});
    EXPECT_EQ(spec->config, c.config);
    EXPECT_EQ(spec->name, c.name);
    expect_unmodified(*spec);
  }
}

// Errors: the op says what was wrong, the hint how to fix it.
struct ErrorCase {
  const char* text;
  const char* op_contains;
  const char* hint_contains;
};

std::ostream& operator<<(std::ostream& os, const ErrorCase& c) {
  return os << "'" << c.text << "'";
}

void expect_parse_error(const ErrorCase& c, const ParseContext& ctx) {
  auto spec = parse_event(c.text, ctx);
  ASSERT_FALSE(spec) << "parsed as " << spec->display_name();
  EXPECT_NE(spec.error().op.find(c.op_contains), std::string::npos) << spec.error().op;
  EXPECT_NE(spec.error().hint.find(c.hint_contains), std::string::npos) << spec.error().hint;
}

class SymbolicParseError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SymbolicParseError, ExplainsTheMistake) {
  expect_parse_error(GetParam(), no_files());
}

const ErrorCase kSymbolicErrors[] = {
    {"cyclse", "unknown event 'cyclse'", "cycles"},
    {"page-fault", "unknown event 'page-fault'", "page-faults"},
    {"PAGE_FAULT", "unknown event 'PAGE_FAULT'", "PAGE_FAULTS"},
    {"instructons", "unknown event 'instructons'", "did you mean instructions"},
    {"cycles:x", "invalid modifier ':x' in 'cycles:x'", "u (user space)"},
    {"cycles:uz", "invalid modifier ':uz' in 'cycles:uz'", "k (kernel)"},
    {"INSTRUCTIONS:kx", "invalid modifier ':kx'", "h (hypervisor)"},
    {"r1a8:q", "invalid modifier ':q'", ":uk"},
    {"", "empty event name", "perfscope list"},
    {"   ", "empty event name", "perfscope list"},
    {"r", "unknown event 'r'", "perfscope list"},
    {"rxyz", "unknown event 'rxyz'", "perfscope list"},
    {"r12345678901234567", "unknown event 'r12345678901234567'", "perfscope list"},
};
INSTANTIATE_TEST_SUITE_P(Symbolic, SymbolicParseError, ::testing::ValuesIn(kSymbolicErrors));

TEST(EventSpecAttr, CarriesTypeConfigAndExclusionsOnly) {
  auto spec = parse_event("cache-misses:u", no_files());
  ASSERT_TRUE(spec);
  const perf_event_attr a = spec->attr();
  EXPECT_EQ(a.size, sizeof(perf_event_attr));
  EXPECT_EQ(a.type, std::uint32_t{PERF_TYPE_HARDWARE});
  EXPECT_EQ(a.config, std::uint64_t{PERF_COUNT_HW_CACHE_MISSES});
  EXPECT_EQ(a.exclude_user, 0u);
  EXPECT_EQ(a.exclude_kernel, 1u);
  EXPECT_EQ(a.exclude_hv, 1u);
  EXPECT_EQ(a.sample_period, 0u);
  EXPECT_EQ(a.read_format, 0u);
  EXPECT_EQ(a.disabled, 0u);
  EXPECT_EQ(a.inherit, 0u);
}

TEST(EventKindName, NamesEveryKind) {
  EXPECT_STREQ(kind_name(EventKind::hardware), "hardware");
  EXPECT_STREQ(kind_name(EventKind::software), "software");
  EXPECT_STREQ(kind_name(EventKind::cache), "cache");
  EXPECT_STREQ(kind_name(EventKind::raw), "raw");
  EXPECT_STREQ(kind_name(EventKind::pmu), "pmu");
  EXPECT_STREQ(kind_name(EventKind::tracepoint), "tracepoint");
}

// Tracepoints and PMU terms, against the synthetic sysfs/tracefs trees.
class FileEventParse : public testing::SyntheticEventFsTest {
 protected:
  Result<EventSpec> parse(const char* text) const { return parse_event(text, context()); }
  void expect_error(const ErrorCase& c) const {
    SCOPED_TRACE(c.text);
    expect_parse_error(c, context());
  }
};

TEST_F(FileEventParse, TracepointIdIsTheConfig) {
  auto spec = parse("sched:sched_switch");
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->kind, EventKind::tracepoint);
  EXPECT_EQ(spec->type, std::uint32_t{PERF_TYPE_TRACEPOINT});
  EXPECT_EQ(spec->config, 316u);
  EXPECT_EQ(spec->name, "sched:sched_switch");
  expect_unmodified(*spec);
}

TEST_F(FileEventParse, TracepointWithModifier) {
  auto spec = parse("sched:sched_switch:u");
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->config, 316u);
  EXPECT_EQ(spec->name, "sched:sched_switch");
  EXPECT_EQ(spec->display_name(), "sched:sched_switch:u");
  EXPECT_FALSE(spec->exclude_user);
  EXPECT_TRUE(spec->exclude_kernel);
  EXPECT_TRUE(spec->exclude_hv);
}

TEST_F(FileEventParse, TracepointNamedLikeAModifier) {
  auto spec = parse("modlike:h");
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->kind, EventKind::tracepoint);
  EXPECT_EQ(spec->config, 7u);
  EXPECT_EQ(spec->modifiers, "");
}

TEST_F(FileEventParse, TracepointErrors) {
  const ErrorCase cases[] = {
      {"sched:sched_swich", "unknown tracepoint 'sched:sched_swich'", "sched:sched_switch"},
      {"sched:sched_swich", "unknown tracepoint", "perfscope list sched"},
      {"shed:sched_switch", "unknown tracepoint subsystem 'shed'", "did you mean sched"},
      {"sched:no_id", "unknown tracepoint 'sched:no_id'", "perfscope list sched"},
  };
  for (const auto& c : cases) expect_error(c);
}

TEST_F(FileEventParse, TracepointWithoutTracefs) {
  const ErrorCase c{"sched:sched_switch", "needs tracefs", "mount -t tracefs"};
  expect_parse_error(c, context_without_tracefs());
}

struct PmuCase {
  const char* text;
  const char* name;
  std::uint64_t config;
  std::uint64_t config1;
  const char* modifiers;
};

TEST_F(FileEventParse, PmuTermsFollowTheFormatFiles) {
  const PmuCase cases[] = {
      {"cpu/event=0x3c,umask=0x1/", "cpu/event=0x3c,umask=0x1/", 0x13c, 0, ""},
      {"cpu/event=0x3c,any/", "cpu/event=0x3c,any/", 0x20003c, 0, ""},
      {"cpu/event=0x3c,cmask=2/", "cpu/event=0x3c,cmask=2/", 0x200003c, 0, ""},
      {"cpu/event=60/", "cpu/event=60/", 0x3c, 0, ""},
      {"cpu/mem-loads,ldlat=3/", "cpu/mem-loads,ldlat=3/", 0x1cd, 3, ""},
      {"cpu/mem-loads/", "cpu/mem-loads/", 0x1cd, 0, ""},
      {"cpu/config=0x1234/", "cpu/config=0x1234/", 0x1234, 0, ""},
      {"cpu/event=1,config1=5/", "cpu/event=1,config1=5/", 0x1, 5, ""},
      {"cpu/event=0x3c/u", "cpu/event=0x3c/", 0x3c, 0, "u"},
      {"cpu/event=0x3c/:k", "cpu/event=0x3c/", 0x3c, 0, "k"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto spec = parse(c.text);
    ASSERT_TRUE(spec) << spec.error().describe();
    EXPECT_EQ(spec->kind, EventKind::pmu);
    EXPECT_EQ(spec->type, 4u);
    EXPECT_EQ(spec->name, c.name);
    EXPECT_EQ(spec->config, c.config);
    EXPECT_EQ(spec->config1, c.config1);
    EXPECT_EQ(spec->config2, 0u);
    EXPECT_EQ(spec->modifiers, c.modifiers);
  }
}

TEST_F(FileEventParse, PmuModifiersSetExclusions) {
  auto user = parse("cpu/event=0x3c/u");
  ASSERT_TRUE(user) << user.error().describe();
  EXPECT_FALSE(user->exclude_user);
  EXPECT_TRUE(user->exclude_kernel);
  EXPECT_TRUE(user->exclude_hv);
  auto kernel = parse("cpu/event=0x3c/:k");
  ASSERT_TRUE(kernel) << kernel.error().describe();
  EXPECT_TRUE(kernel->exclude_user);
  EXPECT_FALSE(kernel->exclude_kernel);
  EXPECT_TRUE(kernel->exclude_hv);
}

TEST_F(FileEventParse, PmuWithoutTermsUsesItsType) {
  auto spec = parse("msr//");
  ASSERT_TRUE(spec) << spec.error().describe();
  EXPECT_EQ(spec->type, 9u);
  EXPECT_EQ(spec->config, 0u);
}

TEST_F(FileEventParse, PmuErrors) {
  const ErrorCase cases[] = {
      {"cpuu/event=1/", "unknown PMU 'cpuu'", "did you mean cpu?"},
      {"cpuu/event=1/", "unknown PMU", "PMUs on this machine: cpu, msr"},
      {"cpu/evnt=1/", "unknown term 'evnt' for PMU cpu",
       "terms of cpu: any, cmask, event, ldlat, umask, config, config1, config2"},
      {"cpu/evnt=1/", "unknown term", "named events of cpu: mem-loads"},
      {"cpu/event=0x1ff/", "value of 'event=0x1ff' does not fit PMU cpu field event (config:0-7)",
       ""},
      {"cpu/any=2/", "does not fit PMU cpu field any (config:21)", ""},
      {"cpu/event=zz/", "invalid value in 'event=zz' for PMU cpu", "0x-prefixed"},
      {"cpu/event=/", "invalid value in 'event=' for PMU cpu", "decimal"},
      {"cpu/event=0x3c", "invalid PMU event 'cpu/event=0x3c'", "cpu/event=0x3c,umask=0x1/"},
      {"/event=1/", "invalid PMU event", "PMU/TERM=VALUE"},
      {"cpu/event=0x3c/x", "invalid modifier ':x'", "u (user space)"},
  };
  for (const auto& c : cases) expect_error(c);
}

}  // namespace
}  // namespace perfscope::events
