// stat/: the counting run without the CLI: real counters on real commands, the -I rows handed to a
// callback, repeats and their exit codes, what ends a run (RunWatch), and the scope checks.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "core/clock.hpp"
#include "stat/run_watch.hpp"
#include "stat/runner.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::stat {
namespace {

using namespace std::chrono_literals;

StatOptions count(const char* events, std::vector<std::string> command) {
  StatOptions o;
  auto groups = events::parse_event_list(events);
  EXPECT_TRUE(groups) << groups.error().describe();
  if (groups) o.groups = std::move(*groups);
  o.command = std::move(command);
  return o;
}

const EventTotals* find(const StatReport& r, const std::string& name) {
  for (const auto& e : r.events) {
    if (e.spec.display_name() == name || e.spec.display_name() == name + ":u") return &e;
  }
  ADD_FAILURE() << "no " << name;
  return nullptr;
}

TEST(StatRunner, CountsACommandAndKeepsItsExitCode) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto report =
      run_stat(count("page-faults,task-clock", {testing::target("ps-touch_pages"), "3000"}));
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->subject, "'" + testing::target("ps-touch_pages") + " 3000'");
  EXPECT_EQ(report->exit_code, 0);
  const auto* faults = find(*report, "page-faults");
  ASSERT_NE(faults, nullptr);
  EXPECT_GE(faults->value, 3000);
  EXPECT_GT(report->elapsed_s, 0);
  EXPECT_TRUE(report->user_s.has_value());
  EXPECT_FALSE(report->killed);

  auto failing = run_stat(count("task-clock", {"/bin/sh", "-c", "exit 3"}));
  ASSERT_TRUE(failing) << failing.error().describe();
  EXPECT_EQ(failing->exit_code, 3);
}

TEST(StatRunner, IntervalRowsAddUpToTheTotal) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  // 20 sleeps of 10 ms: about 200 ms, so four or more 40 ms rows.
  auto o = count("context-switches", {testing::target("ps-sleeper"), "20", "10"});
  o.interval = 40ms;
  int rows = 0;
  double sum = 0, last_at = 0;
  auto report = run_stat(o, [&](double at, const std::vector<EventTotals>& deltas, double length) {
    ++rows;
    EXPECT_GT(at, last_at);
    EXPECT_GT(length, 0);
    last_at = at;
    ASSERT_EQ(deltas.size(), 1u);
    sum += deltas[0].value;
  });
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_GE(rows, 3);
  const auto* cs = find(*report, "context-switches");
  ASSERT_NE(cs, nullptr);
  EXPECT_GE(cs->value, 20);
  EXPECT_DOUBLE_EQ(sum, cs->value) << "the rows are the total, interval by interval";
}

TEST(StatRunner, RepeatsGiveMeansAndNameFailingRuns) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto o = count("page-faults", {"/bin/sh", "-c", "exit 5"});
  o.repeat = 3;
  auto report = run_stat(o);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->runs, 3u);
  EXPECT_EQ(report->exit_code, 5);
  ASSERT_EQ(report->notes.size(), 3u);
  EXPECT_EQ(report->notes[0], "run 1 of 3 exited with status 5");
  EXPECT_TRUE(report->elapsed_stddev_pct.has_value());
}

TEST(StatRunner, ChecksRefuseEmptyListsAndMixedScopes) {
  auto refused = [](StatOptions o) {
    auto st = check_options(o);
    EXPECT_FALSE(st);
    return st ? std::string() : st.error().message();
  };
  StatOptions o = count("task-clock", {});
  EXPECT_EQ(refused(o), "nothing to count");
  o.scope.pids = "";
  EXPECT_EQ(refused(o), "-p was given an empty list");
  o.scope = {};
  o.scope.cpus = "";
  EXPECT_EQ(refused(o), "-C was given an empty list");
  o.scope = {};
  o.scope.all_cpus = true;
  o.scope.tids = "1";
  EXPECT_EQ(refused(o), "choose one of -a and -t");
  o.scope = {};
  o.command = {"/bin/true"};
  o.repeat = 2;
  o.interval = 100ms;
  EXPECT_EQ(refused(o), "-I and -r cannot be combined");
}

// A shell script started as a command and watched, with a deadline `duration_ns` from its start
// (0: none), until its run ends and finish() has ended it.
struct Watched {
  RunWatch::End end = RunWatch::End::none;
  bool finished_in_time = false;
  int ended_with = 0;
  int exit_code = -1;
  std::uint64_t took_ns = 0;
};

Watched watch_command(const std::string& script, std::uint64_t duration_ns) {
  Watched w;
  auto signals = process::SignalWatch::create();
  auto workload = process::Workload::prepare({"/bin/sh", "-c", script});
  EXPECT_TRUE(signals && workload && workload->start());
  if (!signals || !workload) return w;
  const std::uint64_t start = monotonic_ns();
  RunWatch watch(*signals, &*workload, {},
                 duration_ns > 0 ? start + duration_ns : RunWatch::kNoDeadline);
  while (!watch.over()) {
    if (!watch.wait(RunWatch::kNoDeadline)) return w;
  }
  w.took_ns = monotonic_ns() - start;
  w.end = watch.end();
  w.finished_in_time = watch.finish();
  w.ended_with = watch.ended_with();
  EXPECT_TRUE(workload->exited());
  w.exit_code = workload->exit_code();
  return w;
}

// What ends a run: a deadline ends the command with SIGTERM; one that ignores it is killed
// Workload::kEndGraceSeconds later.
TEST(RunWatch, DeadlineEndsACommandThatIgnoresSigtermByKillingIt) {
  const auto w = watch_command("trap '' TERM; exec sleep 30", 300'000'000);
  EXPECT_EQ(w.end, RunWatch::End::deadline);
  EXPECT_GE(w.took_ns, 300'000'000u);
  EXPECT_FALSE(w.finished_in_time) << "it had to be killed";
  EXPECT_EQ(w.ended_with, SIGTERM);
  EXPECT_EQ(w.exit_code, 128 + SIGKILL);
}

TEST(RunWatch, CommandExitEndsTheRun) {
  const auto w = watch_command("exit 4", 0);
  EXPECT_EQ(w.end, RunWatch::End::command_exited);
  EXPECT_TRUE(w.finished_in_time);
  EXPECT_EQ(w.ended_with, 0);
  EXPECT_EQ(w.exit_code, 4);
}

TEST(RunWatch, SignalEndsARunWithoutACommand) {
  auto signals = process::SignalWatch::create();
  ASSERT_TRUE(signals) << signals.error().describe();
  RunWatch watch(*signals, nullptr, {});
  ::kill(::getpid(), SIGHUP);  // blocked by the SignalWatch: read from its fd, not delivered
  // The wake-up time bounds a wait even when no signal came.
  ASSERT_TRUE(watch.wait(monotonic_ns() + 5'000'000'000));
  EXPECT_EQ(watch.end(), RunWatch::End::signal);
  EXPECT_EQ(watch.signal(), SIGHUP);
  EXPECT_TRUE(watch.finish());
}

}  // namespace
}  // namespace perfscope::stat
