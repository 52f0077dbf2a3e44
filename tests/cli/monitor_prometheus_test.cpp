// The Prometheus endpoint against the real thing: a Prometheus server (Debian's `prometheus`)
// started on a loopback port scrapes `perfscope monitor` every second, and its HTTP API must
// return perfscope's series from the first scrape on, a new value at every scrape (the latest
// poll, not the last flush), and clock events in seconds that are exactly the nanoseconds the CSV
// output of the same run holds. promtool checks the exposition text.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::testing {
namespace {

using namespace std::chrono_literals;

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
    const std::string path = std::string(dir) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t online_cpus() {
  return static_cast<std::size_t>(::sysconf(_SC_NPROCESSORS_ONLN));
}

// Prometheus' API sends large answers chunked (http_get returns the body as it came).
std::string dechunk(const HttpResponse& r) {
  std::string lower = r.headers;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") == std::string::npos) return r.body;
  std::string out;
  std::size_t at = 0;
  while (at < r.body.size()) {
    const auto line_end = r.body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    const std::size_t size = std::stoul(r.body.substr(at, line_end - at), nullptr, 16);
    if (size == 0) break;
    out += r.body.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

// The result of an instant query, once it is non-empty (or empty after `timeout`). Prometheus
// is asked again every half second: its API is the readiness signal.
nlohmann::json query(std::uint16_t port, const std::string& promql, std::chrono::seconds timeout) {
  std::string encoded;
  for (char c : promql) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      encoded += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      encoded += buf;
    }
  }
  const auto end = std::chrono::steady_clock::now() + timeout;
  nlohmann::json result = nlohmann::json::array();
  while (std::chrono::steady_clock::now() < end) {
    auto r = http_get(port, "/api/v1/query?query=" + encoded);
    if (r && r->status == 200) {
      auto j = nlohmann::json::parse(dechunk(*r), nullptr, false);
      if (!j.is_discarded() && j["status"] == "success" && !j["data"]["result"].empty()) {
        return j["data"]["result"];
      }
    }
    std::this_thread::sleep_for(500ms);
  }
  return result;
}

// The port of the endpoint the monitor printed ("... at http://127.0.0.1:PORT/metrics").
std::uint16_t endpoint_port(BackgroundProcess& monitor) {
  if (!monitor.wait_for_log("/metrics\n", 10s)) return 0;
  const std::string log = monitor.log();
  const auto at = log.find("http://127.0.0.1:");
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoi(log.substr(at + 17)));
}

// A real Prometheus, its config and data in `dir`, scraping perfscope's endpoint on `target`
// every second and answering its API on `api`.
BackgroundProcess start_prometheus(const TempDir& dir, std::uint16_t target, std::uint16_t api) {
  std::ofstream(dir.file("prometheus.yml"))
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: perfscope\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << target << "']\n";
  return BackgroundProcess(
      {find_program("prometheus"), "--config.file=" + dir.file("prometheus.yml"),
       "--storage.tsdb.path=" + dir.file("data"),
       "--web.listen-address=127.0.0.1:" + std::to_string(api), "--log.level=warn"},
      dir.file("prometheus.log"));
}

// Exposition sample lines, "name{labels}" -> value text.
std::map<std::string, std::string> samples(const std::string& body) {
  std::map<std::string, std::string> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

bool promtool_passes(const TempDir& dir, const std::string& body, std::string& report) {
  std::ofstream(dir.file("metrics.txt")) << body;
  auto check = run(
      {"/bin/sh", "-c", find_program("promtool") + " check metrics < " + dir.file("metrics.txt")});
  report = check.out + check.err;
  return check.exit_code == 0;
}

// A decimal number of seconds as Prometheus prints it ("12.000000007", "0", "1.5") in
// nanoseconds, exactly; -1 when it is not a plain decimal.
std::int64_t seconds_text_to_ns(const std::string& text) {
  const auto dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || fraction.size() > 9 ||
      whole.find_first_not_of("0123456789") != std::string::npos ||
      fraction.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  fraction.resize(9, '0');
  return std::stoll(whole) * 1'000'000'000 + std::stoll(fraction);
}

// CSV totals per (metric, cpu), as the monitor wrote them.
std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> csv_totals(
    const std::string& csv) {
  std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    if (f.size() != 9) continue;
    out[{f[1], f[3]}].insert(std::stoll(f[7]));
  }
  return out;
}

// Before the first poll (an hour away here) the endpoint already answers with every series at
// its start values: counters at 0, the accuracy gauge NaN. Clock events are a _seconds_total
// family.
TEST(MonitorPrometheus, FirstScrapeBeforeTheFirstPollHasEverySeriesAtZero) {
  PS_REQUIRE(paranoid(0), program("promtool"));
  TempDir dir;
  BackgroundProcess monitor(
      {perfscope_binary(), "monitor", "-a", "-e", "task-clock,context-switches,page-faults",
       "--poll-interval", "1h", "--flush-interval", "1h", "-o", "prometheus:127.0.0.1:0"},
      dir.file("monitor.log"));
  const std::uint16_t port = endpoint_port(monitor);
  ASSERT_NE(port, 0) << monitor.log();
  // The flush interval concerns files; with none, the start line does not mention it.
  ASSERT_TRUE(monitor.wait_for_log("polling every", std::chrono::seconds(20))) << monitor.log();
  EXPECT_EQ(monitor.log().find("flushing"), std::string::npos) << monitor.log();
  auto scraped = http_get(port, "/metrics");
  ASSERT_TRUE(scraped) << "no answer from the endpoint";
  EXPECT_EQ(scraped->status, 200);
  EXPECT_NE(scraped->headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const auto got = samples(scraped->body);
  EXPECT_EQ(got.size(), 3 * 2 * online_cpus()) << scraped->body;
  for (std::size_t cpu = 0; cpu < online_cpus(); ++cpu) {
    const std::string at = ",cpu=\"" + std::to_string(cpu) + "\"}";
    EXPECT_EQ(got.at("perf_software_TASK_CLOCK_seconds_total{event=\"task-clock\"" + at), "0");
    EXPECT_EQ(got.at("perf_software_CONTEXT_SWITCHES_total{event=\"context-switches\"" + at), "0");
    EXPECT_EQ(got.at("perf_software_PAGE_FAULTS_total{event=\"page-faults\"" + at), "0");
    EXPECT_EQ(got.at("perfscope_monitor_accuracy{metric=\"perf_software_TASK_CLOCK\",event=\"task-"
                     "clock\"" +
                     at),
              "NaN");
  }
  EXPECT_EQ(scraped->body.find("perf_software_TASK_CLOCK_total"), std::string::npos);
  std::string report;
  EXPECT_TRUE(promtool_passes(dir, scraped->body, report)) << report << scraped->body;
  EXPECT_EQ(monitor.stop(SIGTERM), 0) << monitor.log();
}

TEST(MonitorPrometheus, RealPrometheusScrapesEverySeriesFromTheFirstScrape) {
  PS_REQUIRE(paranoid(0), program("prometheus"), program("promtool"));
  TempDir dir;
  // Polled every 250 ms, flushed only at the end: every value Prometheus sees comes from a poll.
  BackgroundProcess monitor(
      {perfscope_binary(), "monitor", "-a", "-e", "task-clock,context-switches,page-faults",
       "--poll-interval", "250ms", "--flush-interval", "1h", "--duration", "300s", "-o",
       "prometheus:127.0.0.1:0", "-o", "csv:" + dir.file("counts.csv")},
      dir.file("monitor.log"));
  const std::uint16_t port = endpoint_port(monitor);
  ASSERT_NE(port, 0) << monitor.log();

  const std::uint16_t prom_port = free_loopback_port();
  ASSERT_NE(prom_port, 0);
  BackgroundProcess prometheus = start_prometheus(dir, port, prom_port);

  // Six scrapes, then look at every sample Prometheus stored.
  auto ready = query(prom_port, "count_over_time(up{job=\"perfscope\"}[1h]) >= 6", 90s);
  ASSERT_FALSE(ready.empty()) << "Prometheus never scraped perfscope six times:\n"
                              << prometheus.log();
  auto up = query(prom_port, "up{job=\"perfscope\"}[1h]", 10s);
  ASSERT_EQ(up.size(), 1u) << up.dump();
  const auto& up_values = up[0]["values"];
  ASSERT_GE(up_values.size(), 6u);
  for (const auto& v : up_values) EXPECT_EQ(v[1], "1") << up.dump();
  const double first_scrape = up_values[0][0].get<double>();

  // Every series is there, and each one's earliest sample is from the first scrape.
  auto all = query(prom_port, "{job=\"perfscope\",__name__=~\"perf_.+|perfscope_.+\"}[1h]", 10s);
  EXPECT_EQ(all.size(), 3 * 2 * online_cpus()) << all.dump();
  std::set<std::string> families;
  for (const auto& series : all) {
    families.insert(series["metric"]["__name__"].get<std::string>());
    EXPECT_EQ(series["values"][0][0].get<double>(), first_scrape) << series.dump();
  }
  EXPECT_EQ(families,
            (std::set<std::string>{
                "perf_software_TASK_CLOCK_seconds_total", "perf_software_CONTEXT_SWITCHES_total",
                "perf_software_PAGE_FAULTS_total", "perfscope_monitor_accuracy"}));

  EXPECT_EQ(prometheus.stop(SIGTERM), 0) << prometheus.log();
  EXPECT_EQ(monitor.stop(SIGTERM), 0) << monitor.log();
  EXPECT_NE(monitor.log().find("Prometheus requests served"), std::string::npos) << monitor.log();

  // Each scraped value is the total of one poll in the CSV of the same run (or the start value,
  // 0), task-clock's as exact seconds of the CSV's nanoseconds. The CPU-wide clock moves with
  // time, so with polls four times a second every scrape a second later shows a larger value.
  const auto csv = csv_totals(read_file(dir.file("counts.csv")));
  std::size_t clock_samples = 0;
  for (const auto& series : all) {
    const std::string name = series["metric"]["__name__"];
    if (name == "perfscope_monitor_accuracy") continue;
    const bool seconds = name == "perf_software_TASK_CLOCK_seconds_total";
    const std::string metric = name.substr(0, name.size() - (seconds ? 14 : 6));
    const auto& totals = csv.at({metric, series["metric"]["cpu"].get<std::string>()});
    std::int64_t previous = -1;
    double previous_time = 0;
    for (const auto& v : series["values"]) {
      const std::string text = v[1];
      const std::int64_t value = seconds ? seconds_text_to_ns(text) : std::stoll(text);
      EXPECT_TRUE(value == 0 || totals.contains(value))
          << name << " " << text << " is no poll's total in the CSV";
      EXPECT_GE(value, previous) << series.dump();
      if (seconds) {
        ++clock_samples;
        if (previous >= 0) {
          EXPECT_GT(value, previous) << "a scrape did not see a newer poll: " << series.dump();
          // At most one second of CPU time per second, plus the polls' spacing at either end.
          const double elapsed = v[0].get<double>() - previous_time;
          EXPECT_LE(static_cast<double>(value - previous) / 1e9, elapsed + 0.6) << series.dump();
        }
      }
      previous = value;
      previous_time = v[0].get<double>();
    }
  }
  EXPECT_GE(clock_samples, 6 * online_cpus());
}

// Prometheus' own view: rate() of the seconds family is CPU seconds per second, and the accuracy
// of software counters is 1 once polled.
TEST(MonitorPrometheus, RateOfTheClockIsSecondsPerSecond) {
  PS_REQUIRE(paranoid(0), program("prometheus"));
  TempDir dir;
  BackgroundProcess monitor(
      {perfscope_binary(), "monitor", "-a", "-e", "cpu-clock,context-switches", "--poll-interval",
       "250ms", "--duration", "300s", "-o", "prometheus:127.0.0.1:0"},
      dir.file("monitor.log"));
  const std::uint16_t port = endpoint_port(monitor);
  ASSERT_NE(port, 0) << monitor.log();
  const std::uint16_t prom_port = free_loopback_port();
  ASSERT_NE(prom_port, 0);
  BackgroundProcess prometheus = start_prometheus(dir, port, prom_port);

  // rate() over five seconds needs two samples in them that are both past the first poll.
  auto rate = query(prom_port, "rate(perf_software_CPU_CLOCK_seconds_total[5s]) > 0", 90s);
  ASSERT_EQ(rate.size(), online_cpus()) << rate.dump() << prometheus.log();
  for (const auto& series : rate) {
    const double cpu_seconds_per_second = std::stod(series["value"][1].get<std::string>());
    EXPECT_LT(cpu_seconds_per_second, 1.3) << series.dump();
  }
  auto switches = query(prom_port, "perf_software_CONTEXT_SWITCHES_total > 0", 30s);
  ASSERT_FALSE(switches.empty()) << prometheus.log();
  for (const auto& series : switches) {
    EXPECT_EQ(series["metric"]["event"], "context-switches");
    EXPECT_EQ(series["metric"]["job"], "perfscope");
  }
  auto accuracy = query(prom_port, "perfscope_monitor_accuracy == 1", 30s);
  EXPECT_EQ(accuracy.size(), 2 * online_cpus()) << accuracy.dump();

  EXPECT_EQ(prometheus.stop(SIGTERM), 0) << prometheus.log();
  EXPECT_EQ(monitor.stop(SIGTERM), 0) << monitor.log();
}

}  // namespace
}  // namespace perfscope::testing
