// The Prometheus endpoint against the real thing: a Prometheus server (Debian's `prometheus`)
// started on a loopback port scrapes `perfscope monitor` every second, and its HTTP API must
// return perfscope's series with plausible values. promtool checks the exposition text.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
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

// The result vector of an instant query, once it is non-empty (or empty after `timeout`).
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
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j["status"] == "success" && !j["data"]["result"].empty()) {
        return j["data"]["result"];
      }
    }
    std::this_thread::sleep_for(500ms);
  }
  return result;
}

TEST(MonitorPrometheus, RealPrometheusScrapesTheEndpoint) {
  PS_REQUIRE(paranoid(0), program("prometheus"), program("promtool"));
  TempDir dir;
  BackgroundProcess monitor(
      {perfscope_binary(), "monitor", "-a", "-e", "task-clock,context-switches,page-faults",
       "--poll-interval", "250ms", "--flush-interval", "500ms", "--duration", "120s", "-o",
       "prometheus:127.0.0.1:0"},
      dir.file("monitor.log"));
  ASSERT_TRUE(monitor.wait_for_log("/metrics\n", 10s)) << monitor.log();
  const std::string log = monitor.log();
  const auto at = log.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const auto port = static_cast<std::uint16_t>(std::stoi(log.substr(at + 17)));

  // What the endpoint serves passes promtool's checks (format and naming lint).
  std::this_thread::sleep_for(700ms);  // past the first flush
  auto scraped = http_get(port, "/metrics");
  ASSERT_TRUE(scraped) << "no answer from the endpoint";
  EXPECT_EQ(scraped->status, 200);
  EXPECT_NE(scraped->headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(scraped->body.find("perf_software_CONTEXT_SWITCHES_total{"), std::string::npos)
      << scraped->body;
  std::ofstream(dir.file("metrics.txt")) << scraped->body;
  auto check = run(
      {"/bin/sh", "-c", find_program("promtool") + " check metrics < " + dir.file("metrics.txt")});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // A real Prometheus, scraping every second.
  const std::uint16_t prom_port = free_loopback_port();
  ASSERT_NE(prom_port, 0);
  std::ofstream(dir.file("prometheus.yml"))
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: perfscope\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << port << "']\n";
  BackgroundProcess prometheus(
      {find_program("prometheus"), "--config.file=" + dir.file("prometheus.yml"),
       "--storage.tsdb.path=" + dir.file("data"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      dir.file("prometheus.log"));

  auto up = query(prom_port, "up{job=\"perfscope\"}", 60s);
  ASSERT_FALSE(up.empty()) << "Prometheus never scraped perfscope:\n" << prometheus.log();
  EXPECT_EQ(up[0]["value"][1], "1") << up.dump();

  auto switches = query(prom_port, "perf_software_CONTEXT_SWITCHES_total", 30s);
  ASSERT_FALSE(switches.empty()) << prometheus.log();
  double total_switches = 0;
  std::set<std::string> cpus;
  for (const auto& series : switches) {
    EXPECT_EQ(series["metric"]["event"], "context-switches");
    EXPECT_EQ(series["metric"]["job"], "perfscope");
    cpus.insert(series["metric"]["cpu"].get<std::string>());
    total_switches += std::stod(series["value"][1].get<std::string>());
  }
  EXPECT_EQ(cpus.size(), static_cast<std::size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_GT(total_switches, 0);

  // task-clock of a CPU-wide counter runs with the clock: its rate is at most one second per
  // second per CPU (a little slack for scrape jitter), and above zero.
  auto rate = query(prom_port, "rate(perf_software_TASK_CLOCK_total[5s])", 30s);
  ASSERT_FALSE(rate.empty()) << prometheus.log();
  for (const auto& series : rate) {
    const double ns_per_s = std::stod(series["value"][1].get<std::string>());
    EXPECT_GT(ns_per_s, 0) << series.dump();
    EXPECT_LT(ns_per_s, 1.3e9) << series.dump();
  }
  auto accuracy = query(prom_port, "perfscope_monitor_accuracy", 10s);
  ASSERT_FALSE(accuracy.empty());
  for (const auto& series : accuracy) EXPECT_EQ(series["value"][1], "1") << series.dump();

  EXPECT_EQ(prometheus.stop(SIGTERM), 0) << prometheus.log();
  EXPECT_EQ(monitor.stop(SIGTERM), 0) << monitor.log();
  EXPECT_NE(monitor.log().find("Prometheus requests served"), std::string::npos) << monitor.log();
}

}  // namespace
}  // namespace perfscope::testing
