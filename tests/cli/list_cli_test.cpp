// perfscope list: what it claims must be what really opens.
#include <nlohmann/json.hpp>

#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::run;

nlohmann::json list_json(std::vector<std::string> filters, const testing::RunOptions& o = {},
                         std::string bin = testing::perfscope_binary()) {
  std::vector<std::string> a{std::move(bin), "list", "--json"};
  a.insert(a.end(), filters.begin(), filters.end());
  auto r = run(a, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

const nlohmann::json* find(const nlohmann::json& arr, const std::string& name) {
  for (const auto& e : arr) {
    if (e["name"] == name) return &e;
  }
  return nullptr;
}

TEST(ListCli, SoftwareEventsAreAvailableWithAliases) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  const auto arr = list_json({"software"});
  const auto* tc = find(arr, "task-clock");
  ASSERT_NE(tc, nullptr);
  EXPECT_TRUE((*tc)["available"].get<bool>());
  EXPECT_EQ((*tc)["group"], "software");
  const auto* pf = find(arr, "page-faults");
  ASSERT_NE(pf, nullptr);
  EXPECT_NE((*pf)["aliases"].dump().find("PAGE_FAULTS"), std::string::npos);
  for (const auto& e : arr) EXPECT_EQ(e["group"], "software");
}

TEST(ListCli, HardwareEventsCarryTheRealReason) {
  PS_REQUIRE(paranoid(2));
  const auto arr = list_json({"hardware", "cache"});
  const auto* cycles = find(arr, "cycles");
  ASSERT_NE(cycles, nullptr);
  EXPECT_EQ((*cycles)["available"].get<bool>(), system::Capabilities::current().hardware_pmu);
  if (!system::Capabilities::current().hardware_pmu) {
    EXPECT_EQ((*cycles)["reason"], "no hardware PMU on this machine");
    const auto* llc = find(arr, "LLC-load-misses");
    ASSERT_NE(llc, nullptr);
    EXPECT_FALSE((*llc)["available"].get<bool>());
  }
  EXPECT_GE(arr.size(), 10u + 42u);
}

TEST(ListCli, TracepointsOfASubsystemAreOpenedEach) {
  PS_REQUIRE(paranoid(2), pmu("tracepoint"), tracefs());
  auto r = run({testing::perfscope_binary(), "list", "sched"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sched:sched_switch"), std::string::npos);
  EXPECT_EQ(r.out.find("was opened for all"), std::string::npos)
      << "a small list is opened one by one";
}

TEST(ListCli, WholeListIsQuickAndSaysHowTracepointsWereChecked) {
  PS_REQUIRE(paranoid(2), pmu("tracepoint"), tracefs());
  auto r = run({testing::perfscope_binary(), "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Software events:"), std::string::npos);
  EXPECT_NE(r.out.find("Tracepoints:"), std::string::npos);
  EXPECT_NE(r.out.find("was opened for all"), std::string::npos);
}

TEST(ListCli, PmuEventsFromSysfsAreListed) {
  PS_REQUIRE(pmu("msr"));
  const auto arr = list_json({"pmu"});
  EXPECT_NE(find(arr, "msr/tsc/"), nullptr) << arr.dump();
}

TEST(ListCli, NoMatchIsAnError) {
  auto r = run({testing::perfscope_binary(), "list", "no-such-event-anywhere"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no event matches"), std::string::npos);
}

TEST(ListCliUnprivileged, NobodySeesWhatNobodyCanUse) {
  PS_REQUIRE(root(), pmu("software"));
  testing::RunOptions nobody;
  nobody.as_nobody = true;
  const auto& caps = system::Capabilities::current();
  const auto arr = list_json({"software"}, nobody, testing::perfscope_binary_for_nobody());
  const auto* tc = find(arr, "task-clock");
  ASSERT_NE(tc, nullptr);
  const bool expected = caps.paranoid <= 2 || caps.open_self_user_errno == 0;
  EXPECT_EQ((*tc)["available"].get<bool>(), expected) << tc->dump();

  auto r = run({testing::perfscope_binary_for_nobody(), "list", "sched"}, nobody);
  if (!caps.tracefs_path.empty() && access((caps.tracefs_path + "/events").c_str(), R_OK) == 0) {
    // tracefs is root-only by default; then nobody is told so instead of an empty list.
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

// A list that cannot be written (a full disk) is a failure with one line, not an abort and not a
// silent success; the same check covers every subcommand's standard output.
TEST(ListCli, UnwritableStandardOutputFailsWithOneMessage) {
  for (const char* args : {"list software", "report --help", "doctor --need count-own"}) {
    SCOPED_TRACE(args);
    const auto r =
        run({"/bin/sh", "-c", testing::perfscope_binary() + " " + args + " > /dev/full"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace perfscope
