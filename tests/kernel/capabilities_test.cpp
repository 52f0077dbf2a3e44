// The Capabilities probe against what this machine really says.
#include <linux/perf_event.h>

#include "core/files.hpp"
#include "support/requirements.hpp"
#include "system/capabilities.hpp"

namespace perfscope {
namespace {

TEST(Capabilities, ParanoidMatchesProcfs) {
  auto v = read_int_file("/proc/sys/kernel/perf_event_paranoid");
  if (!v) GTEST_SKIP() << "requirement not met: perf events are not supported by this kernel";
  const auto& c = system::Capabilities::current();
  EXPECT_TRUE(c.perf_events_supported);
  EXPECT_EQ(c.paranoid, *v);
}

TEST(Capabilities, SoftwarePmuIsFoundWithItsType) {
  PS_REQUIRE(pmu("software"));
  const auto* p = system::Capabilities::current().find_pmu("software");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->type, static_cast<std::uint32_t>(PERF_TYPE_SOFTWARE));
  EXPECT_FALSE(p->core);
}

TEST(Capabilities, OpenProbesAgreeWithPolicy) {
  PS_REQUIRE(pmu("software"));
  const auto& c = system::Capabilities::current();
  // Each probe opens exactly when the paranoid level (or a capability) allows that access.
  EXPECT_EQ(c.open_self_user_errno == 0, c.paranoid_allows(2));
  EXPECT_EQ(c.open_self_kernel_errno == 0, c.paranoid_allows(1));
  EXPECT_EQ(c.open_cpu_wide_errno == 0, c.paranoid_allows(0));
  EXPECT_EQ(c.hardware_pmu, c.open_hardware_errno == 0 || c.open_hardware_errno == EACCES);
}

TEST(Capabilities, RootHasPerfmonThroughSysAdmin) {
  PS_REQUIRE(root());
  const auto& c = system::Capabilities::current();
  EXPECT_TRUE(c.perfmon());
  EXPECT_TRUE(c.paranoid_allows(-1));
}

TEST(Capabilities, TracefsIsFoundWhereMounted) {
  PS_REQUIRE(tracefs());
  const auto& c = system::Capabilities::current();
  EXPECT_TRUE(path_exists(c.tracefs_path + "/events"));
}

TEST(Capabilities, SyntheticTreeWithoutPerfSupport) {
  system::ProbePaths paths;
  paths.proc_sys_kernel = "/nonexistent";
  paths.event_sources = "/nonexistent";
  paths.mountinfo = "/nonexistent";
  paths.btf = "/nonexistent";
  paths.open_probes = false;
  const auto c = system::Capabilities::probe(paths);
  EXPECT_FALSE(c.perf_events_supported);
  EXPECT_TRUE(c.pmus.empty());
  EXPECT_FALSE(c.hardware_pmu);
  EXPECT_TRUE(c.tracefs_path.empty());
  EXPECT_FALSE(c.btf);
  EXPECT_EQ(c.open_self_user_errno, -1);
}

}  // namespace
}  // namespace perfscope
