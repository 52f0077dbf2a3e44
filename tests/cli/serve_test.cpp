// `perfscope serve` through the real binary and real HTTP (issue 23): serve is started on port 0 on
// a recording of ps-burn (burn_a ~75%, burn_b ~25%, both called by work), the URL line it prints is
// the readiness signal, and every API endpoint is fetched over loopback and checked for content:
// the top functions, the flame graph's frames, the callers of burn_a, the timeline, source lines,
// the filters, and the diff against a baseline in which burn_a cost a third of what it costs now.
// Then the ways it must refuse to start (no profile, a corrupt one, a port in use, a bad --bind)
// and its clean exit on SIGINT and SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kBurnA = "perfscope_targets::burn_a(unsigned long, unsigned long)";
constexpr const char* kBurnB = "perfscope_targets::burn_b(unsigned long, unsigned long)";
constexpr const char* kWork = "perfscope_targets::work(unsigned long, unsigned long)";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// A running `perfscope serve`; ready once it has printed its URL.
class Served {
 public:
  Served(const std::vector<std::string>& args, const std::string& log)
      : process_(with_binary(args), log) {
    ready_ = process_.wait_for_log("(Ctrl-C stops)\n", 60s);
    const std::string text = process_.log();
    const auto at = text.find("http://127.0.0.1:");
    if (ready_ && at != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + 17)));
    }
  }
  bool ready() const { return ready_ && port_ != 0; }
  std::uint16_t port() const { return port_; }
  BackgroundProcess& process() { return process_; }

  // GET path; the status and the body.
  HttpResponse get(const std::string& path) const {
    auto r = http_get(port_, path);
    return r ? *r : HttpResponse{};
  }
  // GET path, which must answer 200 with JSON.
  json api(const std::string& path) const {
    const auto r = get(path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_TRUE(has(r.headers, "Content-Type: application/json")) << r.headers;
    return json::parse(r.body, nullptr, false);
  }

 private:
  static std::vector<std::string> with_binary(std::vector<std::string> args) {
    args.insert(args.begin(), {perfscope_binary(), "serve"});
    return args;
  }
  BackgroundProcess process_;
  bool ready_ = false;
  std::uint16_t port_ = 0;
};

// The flame graph's frames as (path from the root, total, base total): path "a;b;c".
std::map<std::string, std::pair<std::int64_t, std::int64_t>> frames(const json& flame) {
  const auto& names = flame["names"];
  const auto& nodes = flame["nodes"];
  const std::size_t width = flame["width"].get<std::size_t>();
  std::vector<std::string> paths;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;
  for (std::size_t i = 0; i + width <= nodes.size(); i += width) {
    const std::int64_t parent = nodes[i].get<std::int64_t>();
    const std::string name = names[nodes[i + 1].get<std::size_t>()].get<std::string>();
    std::string path = parent < 0 ? name : paths[static_cast<std::size_t>(parent)] + ";" + name;
    paths.push_back(path);
    auto& e = out[path];
    e.first += nodes[i + 3].get<std::int64_t>();
    if (width > 5) e.second += nodes[i + 5].get<std::int64_t>();
  }
  return out;
}

// ps-burn recorded once (perf backend: its samples carry time labels), and a baseline written
// from it as folded stacks with burn_a's stacks at a third of their count: against it, burn_a
// regressed.
class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    record_ = new RunResult(run({perfscope_binary(), "record", "--backend", "perf", "-F", "999",
                                 "-o", dir_->file("burn.pb.gz"), "--", target("ps-burn"), "1000"}));
    if (record_->exit_code != 0) return;
    const auto folded =
        run({perfscope_binary(), "report", "-i", dir_->file("burn.pb.gz"), "--folded"});
    std::istringstream lines(folded.out);
    std::ofstream base(dir_->file("base.folded"));
    for (std::string line; std::getline(lines, line);) {
      const auto space = line.rfind(' ');
      std::int64_t count = std::stoll(line.substr(space + 1));
      if (has(line, "burn_a")) count /= 3;
      if (count > 0) base << line.substr(0, space) << ' ' << count << '\n';
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete record_;
  }
  void SetUp() override {
    PS_REQUIRE(paranoid(2), pmu("software"));
    ASSERT_EQ(record_->exit_code, 0) << record_->err;
  }
  static TempDir* dir_;
  static RunResult* record_;
};
TempDir* ServeTest::dir_ = nullptr;
RunResult* ServeTest::record_ = nullptr;

TEST_F(ServeTest, ApiAnswersEveryViewOfTheProfile) {
  Served s({"-i", dir_->file("burn.pb.gz"), "--port", "0"}, dir_->file("serve.log"));
  ASSERT_TRUE(s.ready()) << s.process().log();
  // The URL is the one line on standard output; the note on standard error says the same.
  EXPECT_TRUE(has(s.process().log(), "\nhttp://127.0.0.1:" + std::to_string(s.port()) + "/\n") ||
              s.process().log().starts_with("http://127.0.0.1:"))
      << s.process().log();

  // The page and its files, from the binary.
  const auto page = s.get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_TRUE(has(page.headers, "Content-Type: text/html")) << page.headers;
  EXPECT_TRUE(has(page.body, "app.js")) << page.body;
  const auto script = s.get("/app.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_TRUE(has(script.headers, "Content-Type: text/javascript")) << script.headers;
  EXPECT_TRUE(has(script.headers, "Content-Security-Policy: default-src 'self'"));
  EXPECT_EQ(s.get("/app.css").status, 200);
  EXPECT_EQ(s.get("/nothing-here").status, 404);

  const json meta = s.api("/api/meta");
  EXPECT_EQ(meta["processes"].size(), 1u) << meta.dump();
  EXPECT_EQ(meta["processes"][0]["comm"], "ps-burn");
  ASSERT_FALSE(meta["threads"].empty());
  ASSERT_FALSE(meta["time"].is_null()) << "perf-backend recordings carry time labels";
  const std::int64_t all = meta["total"].get<std::int64_t>();
  ASSERT_GT(all, 300);

  // Top: burn_a about three quarters of the samples, burn_b about a quarter, by self.
  const json top = s.api("/api/top?n=10");
  ASSERT_GE(top["rows"].size(), 2u);
  EXPECT_EQ(top["total"].get<std::int64_t>(), all);
  EXPECT_EQ(top["rows"][0][0], kBurnA) << top.dump();
  EXPECT_EQ(top["rows"][1][0], kBurnB) << top.dump();
  const double a = 100.0 * top["rows"][0][1].get<double>() / static_cast<double>(all);
  const double b = 100.0 * top["rows"][1][1].get<double>() / static_cast<double>(all);
  EXPECT_GT(a, 55);
  EXPECT_LT(a, 95);
  EXPECT_GT(b, 5);
  EXPECT_LT(b, 45);

  // Flame graph: main -> work -> burn_a under the process, with about burn_a's share.
  const json flame = s.api("/api/flame");
  EXPECT_EQ(flame["total"].get<std::int64_t>(), all);
  std::int64_t burn_a_frames = 0;
  for (const auto& [path, totals] : frames(flame)) {
    if (path.starts_with("all;ps-burn;") &&
        path.ends_with(std::string(";main;") + kWork + ";" + kBurnA)) {
      burn_a_frames += totals.first;
    }
  }
  EXPECT_GT(100.0 * static_cast<double>(burn_a_frames) / static_cast<double>(all), 50);

  // Callers of burn_a: work, then main; burn_a's callees are not work.
  const json callers = s.api("/api/callers?fn=" + encode(kBurnA));
  ASSERT_TRUE(callers["callers"].is_object()) << callers.dump();
  EXPECT_EQ(callers["callers"]["name"], kBurnA);
  ASSERT_FALSE(callers["callers"]["children"].empty());
  EXPECT_EQ(callers["callers"]["children"][0]["name"], kWork) << callers.dump();
  EXPECT_EQ(callers["callers"]["children"][0]["children"][0]["name"], "main");
  const json work = s.api("/api/callers?fn=" + encode(kWork));
  std::vector<std::string> callees;
  for (const auto& c : work["callees"]["children"]) callees.push_back(c["name"]);
  EXPECT_NE(std::find(callees.begin(), callees.end(), kBurnA), callees.end()) << work.dump();
  EXPECT_NE(std::find(callees.begin(), callees.end(), kBurnB), callees.end()) << work.dump();

  // Source lines of burn_a (DWARF lines exist for the target): weights sum to its samples.
  const json source = s.api("/api/source?fn=" + encode(kBurnA));
  EXPECT_TRUE(source["has_lines"].get<bool>()) << source.dump();
  std::int64_t line_weight = 0;
  bool in_burn_cpp = false;
  for (const auto& l : source["lines"]) {
    line_weight += l[2].get<std::int64_t>();
    in_burn_cpp = in_burn_cpp || has(l[0].get<std::string>(), "burn.cpp");
  }
  EXPECT_TRUE(in_burn_cpp) << source.dump();
  EXPECT_EQ(line_weight, source["total"].get<std::int64_t>());

  // Timeline: 100 ms periods that add up to every sample.
  const json tl = s.api("/api/timeline");
  ASSERT_TRUE(tl["labelled"].get<bool>()) << tl.dump();
  std::int64_t in_periods = 0;
  for (const auto& p : tl["periods"]) in_periods += p[2].get<std::int64_t>();
  EXPECT_EQ(in_periods + tl["unlabelled"].get<std::int64_t>(), all);
  EXPECT_GE(tl["periods"].size(), 3u);

  // Filters: the one thread is everything; another pid is nothing; a time window is a part.
  const std::string tid = std::to_string(meta["threads"][0]["tid"].get<std::int64_t>());
  const std::int64_t tid_total = s.api("/api/top?tid=" + tid)["total"].get<std::int64_t>();
  EXPECT_EQ(tid_total, meta["threads"][0]["weight"].get<std::int64_t>());
  EXPECT_EQ(s.api("/api/top?pid=1")["total"].get<std::int64_t>(), 0);
  const std::int64_t first_half = s.api("/api/top?time=0%25-50%25")["total"].get<std::int64_t>();
  EXPECT_GT(first_half, 0);
  EXPECT_LT(first_half, all);
  const std::string cpu = std::to_string(meta["cpus"][0]["cpu"].get<std::int64_t>());
  EXPECT_EQ(s.api("/api/flame?cpu=" + cpu)["total"].get<std::int64_t>(),
            meta["cpus"][0]["weight"].get<std::int64_t>());

  // Wrong parameters: 400 with the reason, as JSON. No baseline: no diff.
  for (const char* bad : {"/api/top?pid=x", "/api/top?time=soon", "/api/callers?fn=",
                          "/api/callers?fn=no_such_function", "/api/flame?focus=(", "/api/diff"}) {
    const auto r = s.get(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << bad << ": " << r.body;
  }
  EXPECT_EQ(s.get("/api/nothing").status, 404);

  // Another name for this server in Host (DNS rebinding): refused.
  const int fd = connect_loopback(s.port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /api/meta HTTP/1.1\r\nHost: attacker.example\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char reply[64] = {};
  ASSERT_GT(::recv(fd, reply, sizeof reply - 1, 0), 12);
  ::close(fd);
  EXPECT_TRUE(std::string(reply).starts_with("HTTP/1.1 403")) << reply;

  EXPECT_EQ(s.process().stop(SIGINT), 0) << s.process().log();
  EXPECT_TRUE(has(s.process().log(), "perfscope serve: stopped after ")) << s.process().log();
}

TEST_F(ServeTest, DiffShowsTheRegression) {
  Served s({"-i", dir_->file("burn.pb.gz"), "--diff", dir_->file("base.folded")},
           dir_->file("diff.log"));
  ASSERT_TRUE(s.ready()) << s.process().log();
  const json meta = s.api("/api/meta");
  EXPECT_TRUE(has(meta["base"].get<std::string>(), "base.folded"));
  const json diff = s.api("/api/diff");
  const double now_total = diff["total"].get<double>();
  const double base_total = diff["base_total"].get<double>();
  ASSERT_GT(base_total, 0) << diff.dump();
  ASSERT_LT(base_total, now_total);

  // The frame of burn_a under work: its share grew; burn_b's shrank.
  double a_now = 0, a_base = 0, b_now = 0, b_base = 0;
  for (const auto& [path, totals] : frames(diff)) {
    if (path.ends_with(std::string(kWork) + ";" + kBurnA)) {
      a_now += static_cast<double>(totals.first), a_base += static_cast<double>(totals.second);
    }
    if (path.ends_with(std::string(kWork) + ";" + kBurnB)) {
      b_now += static_cast<double>(totals.first), b_base += static_cast<double>(totals.second);
    }
  }
  ASSERT_GT(a_base, 0) << "the baseline's paths are found under the same names";
  EXPECT_GT(a_now / now_total, a_base / base_total + 0.1) << a_now << " " << a_base;
  EXPECT_LT(b_now / now_total, b_base / base_total) << b_now << " " << b_base;

  // The table of changes starts with burn_a or burn_b (the two largest moves), burn_a grew.
  ASSERT_GE(diff["rows"].size(), 2u);
  bool found = false;
  for (const auto& r : diff["rows"]) {
    if (r[0] != kBurnA) continue;
    found = true;
    EXPECT_GT(r[1].get<double>() / now_total, r[3].get<double>() / base_total + 0.1) << r.dump();
  }
  EXPECT_TRUE(found) << diff.dump();
  const std::string first = diff["rows"][0][0];
  EXPECT_TRUE(first == kBurnA || first == kBurnB) << first;
  EXPECT_EQ(s.process().stop(SIGTERM), 0) << s.process().log();
}

// Every way to fail before serving: one message naming the problem, status 1, no URL printed.
TEST(ServeCli, RefusesWhatItCannotServe) {
  TempDir dir;
  auto refused = [&](std::vector<std::string> args, const std::string& message) {
    args.insert(args.begin(), {perfscope_binary(), "serve"});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_TRUE(has(r.err, "perfscope serve: ")) << r.err;
    EXPECT_TRUE(has(r.err, message)) << "wanted '" << message << "' in:\n" << r.err;
  };
  refused({"-i", dir.file("missing.pb.gz")}, "missing.pb.gz");
  std::ofstream(dir.file("corrupt.pb.gz")) << "\x1f\x8b\x08 not really gzip";
  refused({"-i", dir.file("corrupt.pb.gz")}, "corrupt.pb.gz");
  std::ofstream(dir.file("ok.folded")) << "main;work 3\n";
  refused({"-i", dir.file("ok.folded"), "--diff", dir.file("missing.folded")}, "missing.folded");
  refused({"-i", dir.file("ok.folded"), "--bind", "192.0.2.1"},
          "192.0.2.1 is not an address of this machine");
  refused({"-i", dir.file("ok.folded"), "--bind", "no such host.invalid"},
          "cannot resolve the perfscope serve address");

  // A port another program holds.
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  refused({"-i", dir.file("ok.folded"), "--port", port}, "another program listens on port " + port);
  refused({"-i", dir.file("ok.folded"), "--port", port}, "--port 0 for any free one");
  ::close(holder);
}

// Opened wider than this machine: it says so; SIGTERM ends it cleanly.
TEST(ServeCli, SaysWhenItListensBeyondThisMachine) {
  TempDir dir;
  std::ofstream(dir.file("ok.folded")) << "main;work 3\n";
  BackgroundProcess p({perfscope_binary(), "serve", "-i", dir.file("ok.folded"), "--bind",
                       "0.0.0.0", "--port", "0"},
                      dir.file("wide.log"));
  ASSERT_TRUE(p.wait_for_log("(Ctrl-C stops)\n", 60s)) << p.log();
  EXPECT_TRUE(has(p.log(), "not only this machine")) << p.log();
  EXPECT_TRUE(has(p.log(), "http://127.0.0.1:")) << p.log();
  EXPECT_EQ(p.stop(SIGTERM), 0) << p.log();
}

}  // namespace
}  // namespace perfscope::testing
