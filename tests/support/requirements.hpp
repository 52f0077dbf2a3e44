// PS_REQUIRE: a kernel-facing test states what it needs; when the machine or the user lacks it the
// test is skipped with the reason and the fix, never failed (the seed 003 model). The checks read
// system::Capabilities, the same probe doctor and the fallbacks use.
//
//   TEST(Counter, CountsSystemWide) {
//     PS_REQUIRE(paranoid(0), tracefs());
//     ...
//   }
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "system/capabilities.hpp"

namespace perfscope::testing {

// One requirement: returns an empty string when met, otherwise the reason and the fix.
struct Requirement {
  std::function<std::string(const system::Capabilities&)> check;
};

// perf_event_paranoid <= level, or CAP_PERFMON/CAP_SYS_ADMIN (which bypass it).
Requirement paranoid(int level);
// A PMU directory under /sys/bus/event_source/devices ("software", "tracepoint", "cpu").
Requirement pmu(const std::string& name);
// A hardware (core) PMU: cycles and instructions can be counted.
Requirement hardware_pmu();
// tracefs mounted and readable by this process.
Requirement tracefs();
// An effective capability.
Requirement cap(system::Cap capability);
// euid 0 (for tests that switch users or change sysctls).
Requirement root();
// An executable found on PATH (a reference tool such as perf).
Requirement program(const std::string& name);
// perfscope's eBPF backends can load here (root or CAP_BPF + CAP_PERFMON, kernel BTF).
Requirement bpf_backend();

// The reasons of all unmet requirements, joined; empty when all are met.
std::string unmet(std::initializer_list<Requirement> requirements);

}  // namespace perfscope::testing

#define PS_REQUIRE(...)                                                           \
  do {                                                                            \
    using namespace ::perfscope::testing;                                         \
    const std::string ps_unmet_ = ::perfscope::testing::unmet({__VA_ARGS__});     \
    if (!ps_unmet_.empty()) GTEST_SKIP() << "requirement not met: " << ps_unmet_; \
  } while (0)
