// monitor::Runner without the CLI: settings resolved from flags and a file, a real command
// monitored to its exit into a JSONL file and a Prometheus endpoint, and a duration that ends a
// command ignoring SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "monitor/runner.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::monitor {
namespace {

using namespace std::chrono_literals;

Settings settings_for(const std::vector<std::string>& outputs) {
  SettingFlags flags;
  flags.events = {"page-faults"};
  flags.poll_interval = "50ms";
  flags.flush_interval = "100ms";
  flags.outputs = outputs;
  auto s = resolve_settings(flags);
  EXPECT_TRUE(s) << s.error().describe();
  return s ? *s : Settings{};
}

TEST(MonitorSettings, FlagsOverrideTheFileAndTheDefaultsFillIn) {
  testing::TempDir dir;
  const std::string config = dir.file("m.toml");
  std::ofstream(config) << "events = [\"context-switches\"]\npoll_interval = \"2s\"\n"
                        << "flush_interval = \"3s\"\nduration = \"1m\"\n";
  SettingFlags flags;
  flags.config = config;
  flags.poll_interval = "250ms";
  auto s = resolve_settings(flags);
  ASSERT_TRUE(s) << s.error().describe();
  ASSERT_EQ(s->groups.size(), 1u);
  EXPECT_EQ(s->groups[0].events[0].display_name(), "context-switches");
  EXPECT_EQ(s->poll, 250ms);
  EXPECT_EQ(s->flush, 3s);
  EXPECT_EQ(s->duration, std::chrono::minutes(1));
  ASSERT_EQ(s->outputs.size(), 1u);
  EXPECT_EQ(s->outputs[0].text, "jsonl:-");
  EXPECT_FALSE(s->default_events);

  flags = {};
  flags.outputs = {"csv:a", "jsonl:a"};
  auto twice = resolve_settings(flags);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message(), "two outputs write to a");
  flags = {};
  flags.duration = std::string(400, '9') + "s";
  auto huge = resolve_settings(flags);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message().find("--duration: invalid duration"), std::string::npos);
}

TEST(MonitorRunner, MonitorsACommandToItsExitIntoFileAndEndpoint) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  testing::TempDir dir;
  const std::string jsonl = dir.file("points.jsonl");
  auto runner = Runner::open({.settings = settings_for({"jsonl:" + jsonl, "prometheus:0"}),
                              .scope = {},
                              .command = {testing::target("ps-touch_pages"), "4000"}});
  ASSERT_TRUE(runner) << runner.error().describe();
  EXPECT_EQ(runner->series_count(), 1u);
  EXPECT_EQ(runner->subject(), "'" + testing::target("ps-touch_pages") + " 4000'");
  ASSERT_EQ(runner->endpoints().size(), 1u);
  EXPECT_EQ(runner->endpoints()[0].rfind("http://127.0.0.1:", 0), 0u) << runner->endpoints()[0];
  EXPECT_GT(runner->command_pid(), 0);

  auto summary = runner->run();
  ASSERT_TRUE(summary) << summary.error().describe();
  EXPECT_EQ(summary->end, stat::RunWatch::End::command_exited);
  EXPECT_EQ(summary->exit_code, 0);
  EXPECT_EQ(summary->ended_with, 0);
  EXPECT_GE(summary->polls, 1u);
  EXPECT_EQ(summary->points_per_file, summary->polls) << "one series: one point a poll";

  std::ifstream in(jsonl);
  std::string line, last;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    last = line;
  }
  EXPECT_EQ(lines, summary->points_per_file);
  const auto total_at = last.find("\"total\":");
  ASSERT_NE(total_at, std::string::npos) << last;
  EXPECT_GE(std::stoull(last.substr(total_at + 8)), 4000u) << last;
}

TEST(MonitorRunner, DurationEndsACommandIgnoringSigtermAndExitsZero) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  testing::TempDir dir;
  auto settings = settings_for({"csv:" + dir.file("points.csv")});
  settings.duration = 300ms;
  auto runner = Runner::open({.settings = std::move(settings),
                              .scope = {},
                              .command = {"/bin/sh", "-c", "trap '' TERM; exec sleep 30"}});
  ASSERT_TRUE(runner) << runner.error().describe();
  const auto start = std::chrono::steady_clock::now();
  auto summary = runner->run();
  ASSERT_TRUE(summary) << summary.error().describe();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2s) << "the grace period";
  EXPECT_EQ(summary->end, stat::RunWatch::End::deadline);
  EXPECT_EQ(summary->ended_with, SIGTERM);
  EXPECT_TRUE(summary->killed);
  EXPECT_EQ(summary->exit_code, 0) << "the duration ended it";
}

TEST(MonitorRunner, OpenRefusesBeforeCreatingAnyFile) {
  testing::TempDir dir;
  const std::string csv = dir.file("never.csv");
  RunnerOptions o{.settings = settings_for({"csv:" + csv}), .scope = {}, .command = {"/bin/true"}};
  o.scope.pids = "1";
  auto both = Runner::open(o);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().message(), "-p and a command cannot be combined");
  o.command.clear();
  o.scope.pids = "";
  auto empty = Runner::open(o);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(), "-p was given an empty list");
  EXPECT_FALSE(std::ifstream(csv).good());
}

}  // namespace
}  // namespace perfscope::monitor
