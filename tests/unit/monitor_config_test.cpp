// The monitor's configuration: the seed's Alumet file as it is, perfscope's own form, and every
// kind of mistake, each reported with file, line, key and what is valid.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "core/files.hpp"
#include "monitor/config.hpp"
#include "monitor/duration.hpp"
#include "monitor/metric_name.hpp"
#include "monitor/output_spec.hpp"

namespace perfscope::monitor {
namespace {

using namespace std::chrono_literals;

std::string seed_config_path() {
  return std::string(PERFSCOPE_TEST_DATA) + "/alumet-perf.toml";
}

// Errors name source:line first; returns the whole message and hint.
std::string config_error(const std::string& text) {
  auto c = parse_config(text, "test.toml");
  EXPECT_FALSE(c) << "accepted:\n" << text;
  return c ? std::string() : c.error().describe();
}

TEST(MonitorConfig, SeedExampleLoadsUnchanged) {
  auto c = load_config(seed_config_path());
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_TRUE(c->alumet);
  EXPECT_EQ(c->poll_interval, 1s);
  EXPECT_EQ(c->flush_interval, 1s);
  ASSERT_EQ(c->events.size(), 6u);
  std::map<std::string, std::vector<std::string>> by_key;
  for (const auto& e : c->events) {
    by_key[e.key].push_back(e.text);
    ASSERT_EQ(e.groups.size(), 1u);
    ASSERT_EQ(e.groups[0].events.size(), 1u);
  }
  EXPECT_EQ(by_key["plugins.perf.hardware_events"],
            (std::vector<std::string>{"REF_CPU_CYCLES", "CACHE_MISSES", "BRANCH_MISSES"}));
  EXPECT_EQ(by_key["plugins.perf.software_events"],
            (std::vector<std::string>{"PAGE_FAULTS", "CONTEXT_SWITCHES"}));
  EXPECT_EQ(by_key["plugins.perf.cache_events"], (std::vector<std::string>{"LL_READ_MISS"}));
  // Lines are the file's: REF_CPU_CYCLES is on line 6.
  for (const auto& e : c->events) {
    if (e.text == "REF_CPU_CYCLES") {
      EXPECT_EQ(e.line, 6);
    }
  }
  // The seed's metric names come out of those events.
  std::vector<std::string> names;
  for (const auto& e : c->events) names.push_back(metric_name(e.groups[0].events[0]));
  EXPECT_NE(std::find(names.begin(), names.end(), "perf_hardware_REF_CPU_CYCLES"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "perf_software_PAGE_FAULTS"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "perf_cache_LL_READ_MISS"), names.end());
}

TEST(MonitorConfig, WholeAlumetFileKeepsOnlyThePerfPlugin) {
  auto c = parse_config(R"(
max_update_interval = "500ms"
[plugins.rapl]
poll_interval = "1s"
no_perf_events = false
[plugins.csv]
output_path = "alumet-output.csv"
[plugins.perf]
enable = true
poll_interval = "250ms"
software_events = ["PAGE_FAULTS"]
)",
                        "alumet-config.toml");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_TRUE(c->alumet);
  EXPECT_EQ(c->poll_interval, 250ms);
  EXPECT_FALSE(c->flush_interval);
  ASSERT_EQ(c->events.size(), 1u);
}

TEST(MonitorConfig, PerfscopeFormAcceptsEveryEventForm) {
  auto c = parse_config(R"(
events = ["INSTRUCTIONS:u", "page-faults", "r0x412e", "L1-dcache-load-misses",
          "{task-clock,context-switches}", "CPU_CYCLES:k"]
poll_interval = "200ms"
flush_interval = "1m 30s"
duration = "2h"
outputs = ["csv:out.csv", "jsonl:-", "prometheus:9464"]
strict = true
)",
                        "perfscope.toml");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_FALSE(c->alumet);
  ASSERT_EQ(c->events.size(), 6u);
  EXPECT_EQ(c->events[0].groups[0].events[0].display_name(), "instructions:u");
  EXPECT_EQ(c->events[2].groups[0].events[0].type, static_cast<std::uint32_t>(PERF_TYPE_RAW));
  EXPECT_EQ(c->events[2].groups[0].events[0].config, 0x412eu);
  EXPECT_TRUE(c->events[4].groups[0].grouped);
  EXPECT_EQ(c->events[4].groups[0].events.size(), 2u);
  EXPECT_EQ(c->poll_interval, 200ms);
  EXPECT_EQ(c->flush_interval, 90s);
  EXPECT_EQ(c->duration, 2h);
  ASSERT_EQ(c->outputs.size(), 3u);
  EXPECT_EQ(c->outputs[2].kind, OutputSpec::Kind::prometheus);
  EXPECT_EQ(c->outputs[2].address, "127.0.0.1");
  EXPECT_EQ(c->outputs[2].port, 9464);
  EXPECT_EQ(c->strict, true);
}

TEST(MonitorConfig, WrongTypesNameLineKeyAndForm) {
  std::string e = config_error("events = [\"page-faults\"]\npoll_interval = 5\n");
  EXPECT_NE(e.find("test.toml:2: poll_interval"), std::string::npos) << e;
  EXPECT_NE(e.find("found an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("\"1s\""), std::string::npos) << e;

  e = config_error("[plugins.perf]\nhardware_events = \"CPU_CYCLES\"\n");
  EXPECT_NE(e.find("test.toml:2: plugins.perf.hardware_events"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an array"), std::string::npos) << e;

  e = config_error("events = [\"page-faults\",\n  42]\n");
  EXPECT_NE(e.find("test.toml:2: events"), std::string::npos) << e;
  EXPECT_NE(e.find("found an integer"), std::string::npos) << e;

  e = config_error("strict = \"yes\"\n");
  EXPECT_NE(e.find("test.toml:1: strict: expected true or false, found a string"),
            std::string::npos)
      << e;

  e = config_error("outputs = \"csv:x.csv\"\n");
  EXPECT_NE(e.find("test.toml:1: outputs: expected an array"), std::string::npos) << e;
}

TEST(MonitorConfig, UnknownKeysSuggestTheNearestValidOne) {
  std::string e = config_error("pol_interval = \"1s\"\n");
  EXPECT_NE(e.find("test.toml:1: pol_interval: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean poll_interval?"), std::string::npos) << e;
  EXPECT_NE(e.find("valid keys here: events,"), std::string::npos) << e;

  e = config_error("[plugins.perf]\npoll_interval = \"1s\"\nhardware_event = []\n");
  EXPECT_NE(e.find("test.toml:3: plugins.perf.hardware_event: unknown key"), std::string::npos)
      << e;
  EXPECT_NE(e.find("did you mean hardware_events?"), std::string::npos) << e;
}

TEST(MonitorConfig, UnknownAndMisplacedEvents) {
  std::string e = config_error("[plugins.perf]\nhardware_events = [\n  \"CPU_CYCLE\",\n]\n");
  EXPECT_NE(e.find("test.toml:3: plugins.perf.hardware_events"), std::string::npos) << e;
  EXPECT_NE(e.find("CPU_CYCLE"), std::string::npos) << e;
  EXPECT_NE(e.find("CPU_CYCLES"), std::string::npos) << "no suggestion: " << e;

  e = config_error("[plugins.perf]\nhardware_events = [\"PAGE_FAULTS\"]\n");
  EXPECT_NE(e.find("is a software event, not a hardware one"), std::string::npos) << e;
  EXPECT_NE(e.find("software_events"), std::string::npos) << e;

  e = config_error("events = [\"no-such-event\"]\n");
  EXPECT_NE(e.find("test.toml:1: events"), std::string::npos) << e;
}

TEST(MonitorConfig, BadIntervals) {
  std::string e = config_error("poll_interval = \"-1s\"\n");
  EXPECT_NE(e.find("test.toml:1: poll_interval"), std::string::npos) << e;
  EXPECT_NE(e.find("negative"), std::string::npos) << e;
  e = config_error("flush_interval = \"0s\"\n");
  EXPECT_NE(e.find("zero"), std::string::npos) << e;
  e = config_error("poll_interval = \"1ms\"\n");
  EXPECT_NE(e.find("shorter than the shortest interval, 10ms"), std::string::npos) << e;
  e = config_error("poll_interval = \"5\"\n");
  EXPECT_NE(e.find("has no unit"), std::string::npos) << e;
  e = config_error("poll_interval = \"1 fortnight\"\n");
  EXPECT_NE(e.find("unknown unit"), std::string::npos) << e;
}

TEST(MonitorConfig, SyntaxErrorsAndStructure) {
  std::string e = config_error("events = [\"page-faults\"\npoll_interval = \"1s\"\n");
  EXPECT_NE(e.find("test.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid TOML"), std::string::npos) << e;

  e = config_error("[plugins.rapl]\npoll_interval = \"1s\"\n");
  EXPECT_NE(e.find("no [plugins.perf] table"), std::string::npos) << e;

  e = config_error("[plugins.perf]\nenable = false\n");
  EXPECT_NE(e.find("disabled"), std::string::npos) << e;
}

TEST(MonitorConfig, UnreadableFileSaysWhy) {
  auto missing = load_config("/nonexistent/perfscope.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errnum, ENOENT);
  EXPECT_NE(missing.error().message().find("/nonexistent/perfscope.toml"), std::string::npos);

  auto directory = load_config("/tmp");
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message().find("cannot read config /tmp"), std::string::npos)
      << directory.error().describe();
}

TEST(MonitorDuration, ParsesHumanSpellings) {
  EXPECT_EQ(*parse_duration("1s"), 1s);
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("1m 30s"), 90s);
  EXPECT_EQ(*parse_duration("1h30m"), 90min);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("250us"), 250us);
  EXPECT_EQ(*parse_duration("10 ns"), 10ns);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("-2s"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("1.2.3s"));
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(2h), "2h");
}

// Issue 19: a 400-digit number aborted in std::stod. It is an error that says why, from a flag
// (parse_setting) and from a file alike, and the message does not repeat all 400 digits.
TEST(MonitorDuration, HugeNumbersAreAClearError) {
  const std::string digits(400, '9');
  for (const std::string& text : {digits + "s", "1" + digits + "ns", "1s " + digits + "m"}) {
    auto d = parse_setting(text, true);
    ASSERT_FALSE(d) << text;
    const std::string message = d.error().message();
    EXPECT_NE(message.find("invalid duration"), std::string::npos) << message;
    EXPECT_LT(message.size(), 120u) << message;
    EXPECT_NE(d.error().hint.find("write a number and a unit"), std::string::npos);
  }
  // Many digits are not an error by themselves: 0.999... hours is (about) an hour.
  auto fraction = parse_duration("0." + digits + "h");
  ASSERT_TRUE(fraction) << fraction.error().describe();
  EXPECT_EQ(*fraction, 1h);
  // Large but finite: past the longest duration a nanosecond count holds (292 years).
  auto long_one = parse_duration("1" + std::string(300, '0') + "s");
  ASSERT_FALSE(long_one);
  EXPECT_NE(long_one.error().message().find("too long"), std::string::npos)
      << long_one.error().message();
  auto too_long = parse_duration("300000000000s");
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message().find("too long"), std::string::npos);
  // A tiny fraction under a nanosecond rounds to zero, which a setting refuses.
  EXPECT_FALSE(parse_setting("0.0000000001s", false));

  const std::string file_error =
      config_error("poll_interval = \"" + digits + "s\"\nduration = \"1s\"\n");
  EXPECT_NE(file_error.find("test.toml:1: poll_interval"), std::string::npos) << file_error;
  EXPECT_NE(file_error.find("invalid duration"), std::string::npos) << file_error;
}

TEST(MonitorOutputSpec, ParsesEveryForm) {
  auto csv = parse_output_spec("csv:out/counts.csv");
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->kind, OutputSpec::Kind::csv);
  EXPECT_EQ(csv->path, "out/counts.csv");
  auto jsonl = parse_output_spec("jsonl:-");
  ASSERT_TRUE(jsonl);
  EXPECT_EQ(jsonl->path, "-");
  auto prom = parse_output_spec("prometheus:0.0.0.0:9100");
  ASSERT_TRUE(prom);
  EXPECT_EQ(prom->address, "0.0.0.0");
  EXPECT_EQ(prom->port, 9100);
  auto v6 = parse_output_spec("prometheus:[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, "::1");
  auto port_only = parse_output_spec("prometheus::9464");
  ASSERT_TRUE(port_only);
  EXPECT_EQ(port_only->address, "127.0.0.1");
  for (const char* bad : {"xml:out", "csv:", "counts.csv", "prometheus:", "prometheus:99999",
                          "prometheus:host:port", "prometheus:[::1"}) {
    auto r = parse_output_spec(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().hint.find("csv:FILE"), std::string::npos) << bad;
    }
  }
}

TEST(MonitorMetricName, FollowsTheSeedAndDerivesTheRest) {
  auto name = [](const char* event) {
    auto spec = events::parse_event(event);
    EXPECT_TRUE(spec) << event;
    return spec ? metric_name(*spec) : std::string();
  };
  EXPECT_EQ(name("cycles"), "perf_hardware_CPU_CYCLES");
  EXPECT_EQ(name("CPU_CYCLES:u"), "perf_hardware_CPU_CYCLES");
  EXPECT_EQ(name("page-faults"), "perf_software_PAGE_FAULTS");
  EXPECT_EQ(name("minor-faults"), "perf_software_PAGE_FAULTS_MIN");
  EXPECT_EQ(name("LLC-load-misses"), "perf_cache_LL_READ_MISS");
  EXPECT_EQ(name("dTLB-stores"), "perf_cache_DTLB_WRITE_ACCESS");
  EXPECT_EQ(name("task-clock"), "perf_software_TASK_CLOCK");
  EXPECT_EQ(name("r0x412e"), "perf_raw_0x412e");
  events::EventSpec tp;
  tp.kind = events::EventKind::tracepoint;
  tp.name = "sched:sched_switch";
  EXPECT_EQ(metric_name(tp), "perf_tracepoint_sched_sched_switch");
  events::EventSpec pmu;
  pmu.kind = events::EventKind::pmu;
  pmu.name = "msr/tsc/";
  EXPECT_EQ(metric_name(pmu), "perf_pmu_msr_tsc");
}

}  // namespace
}  // namespace perfscope::monitor
