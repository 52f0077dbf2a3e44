// Monitor points in their three text forms, and the interval arithmetic under multiplexing, from
// synthetic series and readings (no kernel needed).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "monitor/format.hpp"
#include "monitor/metric_name.hpp"
#include "monitor/source.hpp"

namespace perfscope::monitor {
namespace {

// 2026-11-22T09:15:30.250000001Z
constexpr std::int64_t kTime = 1795338930'250000001;

std::vector<Series> sample_series() {
  return {
      {"perf_software_PAGE_FAULTS", "page-faults", "page-faults", 0, -1, {}},
      {"perf_software_PAGE_FAULTS", "page-faults", "page-faults", 1, -1, {}},
      {"perf_hardware_INSTRUCTIONS", "instructions:u", "instructions", -1, 4242, {}},
      {"perf_software_CONTEXT_SWITCHES", "context-switches", "context-switches", -1, -1,
       "/sys/fs/cgroup/a,\"b\""},
  };
}

TEST(MonitorFormat, Rfc3339InUtcWithNanoseconds) {
  EXPECT_EQ(rfc3339(kTime), "2026-11-22T09:15:30.250000001Z");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
}

TEST(MonitorFormat, CsvRowsCarryValueTotalAccuracyAndScope) {
  const auto series = sample_series();
  const std::vector<Point> points{
      {kTime, 0, 10, 110, 1.0}, {kTime, 2, 2000, 5000, 0.5}, {kTime, 3, 7, 7, 1.0}};
  std::string out = csv_header();
  append_csv(points, series, out);
  EXPECT_EQ(out,
            "timestamp,metric,event,cpu,pid,cgroup,value,total,accuracy\n"
            "2026-11-22T09:15:30.250000001Z,perf_software_PAGE_FAULTS,page-faults,0,,,10,110,1\n"
            "2026-11-22T09:15:30.250000001Z,perf_hardware_INSTRUCTIONS,instructions:u,,4242,,"
            "2000,5000,0.5\n"
            "2026-11-22T09:15:30.250000001Z,perf_software_CONTEXT_SWITCHES,context-switches,,,"
            "\"/sys/fs/cgroup/a,\"\"b\"\"\",7,7,1\n");
}

TEST(MonitorFormat, JsonLinesParseBack) {
  const auto series = sample_series();
  const std::vector<Point> points{{kTime, 1, 3, 9, 1.0}, {kTime, 3, 7, 7, 0.25}};
  std::string out;
  append_jsonl(points, series, out);
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(nlohmann::json::parse(out.substr(start, nl - start)));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["timestamp"], "2026-11-22T09:15:30.250000001Z");
  EXPECT_EQ(lines[0]["metric"], "perf_software_PAGE_FAULTS");
  EXPECT_EQ(lines[0]["event"], "page-faults");
  EXPECT_EQ(lines[0]["value"], 3);
  EXPECT_EQ(lines[0]["total"], 9);
  EXPECT_EQ(lines[0]["accuracy"], 1.0);
  EXPECT_EQ(lines[0]["attributes"], (nlohmann::json{{"cpu", 1}}));
  EXPECT_EQ(lines[1]["attributes"]["cgroup"], "/sys/fs/cgroup/a,\"b\"");
  EXPECT_EQ(lines[1]["accuracy"], 0.25);
}

TEST(MonitorFormat, PrometheusExpositionGroupsFamiliesAndEscapesLabels) {
  auto series = sample_series();
  series[3].cgroup = "a\\b\"c\nd";
  std::vector<Point> latest(series.size());
  latest[0] = {kTime, 0, 1, 100, 1.0};
  latest[1] = {kTime, 1, 2, 200, 1.0};
  latest[3] = {kTime, 3, 3, 300, 0.5};  // series 2 not polled yet: its start values
  std::string out;
  append_exposition(series, latest, out);
  EXPECT_EQ(
      out,
      "# HELP perf_software_PAGE_FAULTS_total Count of the perf event page-faults, scaled for "
      "multiplexing (perfscope monitor).\n"
      "# TYPE perf_software_PAGE_FAULTS_total counter\n"
      "perf_software_PAGE_FAULTS_total{event=\"page-faults\",cpu=\"0\"} 100\n"
      "perf_software_PAGE_FAULTS_total{event=\"page-faults\",cpu=\"1\"} 200\n"
      "# HELP perf_hardware_INSTRUCTIONS_total Count of the perf event instructions, scaled for "
      "multiplexing (perfscope monitor).\n"
      "# TYPE perf_hardware_INSTRUCTIONS_total counter\n"
      "perf_hardware_INSTRUCTIONS_total{event=\"instructions:u\",pid=\"4242\"} 0\n"
      "# HELP perf_software_CONTEXT_SWITCHES_total Count of the perf event context-switches, "
      "scaled for multiplexing (perfscope monitor).\n"
      "# TYPE perf_software_CONTEXT_SWITCHES_total counter\n"
      "perf_software_CONTEXT_SWITCHES_total{event=\"context-switches\",cgroup=\"a\\\\b\\\"c\\nd\"} "
      "300\n"
      "# HELP perfscope_monitor_accuracy Share of the last poll interval each counter was running "
      "(time_running / time_enabled); its count was scaled by the inverse. NaN until the first "
      "poll.\n"
      "# TYPE perfscope_monitor_accuracy gauge\n"
      "perfscope_monitor_accuracy{metric=\"perf_software_PAGE_FAULTS\",event=\"page-faults\","
      "cpu=\"0\"} 1\n"
      "perfscope_monitor_accuracy{metric=\"perf_software_PAGE_FAULTS\",event=\"page-faults\","
      "cpu=\"1\"} 1\n"
      "perfscope_monitor_accuracy{metric=\"perf_hardware_INSTRUCTIONS\",event=\"instructions:u\","
      "pid=\"4242\"} NaN\n"
      "perfscope_monitor_accuracy{metric=\"perf_software_CONTEXT_SWITCHES\",event=\"context-"
      "switches\",cgroup=\"a\\\\b\\\"c\\nd\"} 0.5\n");
}

// cpu-clock and task-clock count nanoseconds; Prometheus gets them in seconds, exactly, in a
// family named with the unit. Before the first poll every family reads 0.
TEST(MonitorFormat, PrometheusExportsClockEventsInSeconds) {
  std::vector<Series> series{
      {"perf_software_TASK_CLOCK", "task-clock", "task-clock", 0, -1, {}, true},
      {"perf_software_TASK_CLOCK", "task-clock", "task-clock", 1, -1, {}, true},
      {"perf_software_CPU_CLOCK", "cpu-clock:u", "cpu-clock", 0, -1, {}, true},
      {"perf_software_CPU_CLOCK", "cpu-clock:u", "cpu-clock", 1, -1, {}, true},
  };
  EXPECT_EQ(prometheus_name(series[0]), "perf_software_TASK_CLOCK_seconds_total");
  std::vector<Point> latest(series.size());
  latest[0] = {kTime, 0, 1, 1'500'000'000, 1.0};
  latest[1] = {kTime, 1, 1, 12'000'000'007, 1.0};
  latest[2] = {kTime, 2, 1, 999'999'999, 1.0};  // series 3 not polled yet
  std::string out;
  append_exposition(series, latest, out);
  const std::string expected_samples =
      "# HELP perf_software_TASK_CLOCK_seconds_total CPU time counted by the perf event "
      "task-clock, in seconds (perfscope monitor).\n"
      "# TYPE perf_software_TASK_CLOCK_seconds_total counter\n"
      "perf_software_TASK_CLOCK_seconds_total{event=\"task-clock\",cpu=\"0\"} 1.5\n"
      "perf_software_TASK_CLOCK_seconds_total{event=\"task-clock\",cpu=\"1\"} 12.000000007\n"
      "# HELP perf_software_CPU_CLOCK_seconds_total CPU time counted by the perf event "
      "cpu-clock, in seconds (perfscope monitor).\n"
      "# TYPE perf_software_CPU_CLOCK_seconds_total counter\n"
      "perf_software_CPU_CLOCK_seconds_total{event=\"cpu-clock:u\",cpu=\"0\"} 0.999999999\n"
      "perf_software_CPU_CLOCK_seconds_total{event=\"cpu-clock:u\",cpu=\"1\"} 0\n";
  EXPECT_EQ(out.substr(0, expected_samples.size()), expected_samples) << out;
  // The accuracy gauge names the metric as CSV does (without the unit).
  EXPECT_NE(out.find("perfscope_monitor_accuracy{metric=\"perf_software_TASK_CLOCK\",event=\"task-"
                     "clock\",cpu=\"0\"} 1\n"),
            std::string::npos)
      << out;
}

// Multiplexing with synthetic readings: each counter's interval delta is scaled by its own
// enabled/running, and the accuracy is running over enabled for the sum.
TEST(MonitorIntervalSum, ScalesEachDeltaAndReportsAccuracy) {
  IntervalSum sum;
  // Counted half the interval: 1000 seen, 2000 estimated.
  sum.add({1000, 100'000'000, 50'000'000});
  double accuracy = 0;
  EXPECT_EQ(sum.take(accuracy), 2000u);
  EXPECT_DOUBLE_EQ(accuracy, 0.5);

  // Two counters (two CPUs) into one series: one counted throughout, one a quarter of the time.
  sum.add({300, 100, 100});
  sum.add({100, 100, 25});
  EXPECT_EQ(sum.take(accuracy), 300u + 400u);
  EXPECT_DOUBLE_EQ(accuracy, 125.0 / 200.0);

  // Never scheduled in the interval: nothing can be estimated.
  sum.add({0, 100, 0});
  EXPECT_EQ(sum.take(accuracy), 0u);
  EXPECT_DOUBLE_EQ(accuracy, 0.0);

  // Nothing enabled (a CPU that was offline): accuracy 1, nothing missed.
  EXPECT_EQ(sum.take(accuracy), 0u);
  EXPECT_DOUBLE_EQ(accuracy, 1.0);
}

// The delta of cumulative readings, as Source computes it between two polls.
TEST(MonitorIntervalSum, DeltaOfCumulativeReadingsUnderMultiplexing) {
  const counting::Reading first{1000, 1'000'000, 500'000};
  const counting::Reading second{4000, 2'000'000, 1'250'000};  // 3000 in 750 us of 1 ms
  IntervalSum sum;
  sum.add(second.since(first));
  double accuracy = 0;
  EXPECT_EQ(sum.take(accuracy), 4000u);
  EXPECT_DOUBLE_EQ(accuracy, 0.75);
}

}  // namespace
}  // namespace perfscope::monitor
