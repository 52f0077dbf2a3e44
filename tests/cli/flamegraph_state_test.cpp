// perfscope flamegraph --colors state (and convert --to speedscope) on a real `record --wall` of
// ps-offcpu, whose worker computes, sleeps in nanosleep, sleeps on a pipe read and waits
// uninterruptibly for a vfork child: each phase's frame must take its state's colour, the legend
// must name the states, and the speedscope file must keep them. Needs the eBPF backend.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One SVG frame: its tooltip and fill.
struct SvgFrame {
  std::string title;
  int r = 0, g = 0, b = 0;
};

// The widest SVG frame whose name contains `needle` (frames are drawn in depth-first order; the
// one with the largest count is taken).
SvgFrame svg_frame(const std::string& svg, const std::string& needle) {
  static const std::regex frame(
      R"re(<g class="f" data-name="([^"]*)" data-s="\d+" data-c="(\d+)" data-d="\d+"><title>([^<]*)</title><rect [^>]*fill="rgb\((\d+),(\d+),(\d+)\)")re");
  SvgFrame best;
  long long best_count = -1;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), frame); it != std::sregex_iterator();
       ++it) {
    const auto& m = *it;
    if (m[1].str().find(needle) == std::string::npos) continue;
    const long long count = std::stoll(m[2]);
    if (count <= best_count) continue;
    best_count = count;
    best = {m[3], std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[6])};
  }
  return best;
}

// The state listed first (the largest share) in a tooltip "...; sleeping 98.20%, on-cpu 1.80%)".
std::string first_state(const std::string& title) {
  static const std::regex first(R"(; (on-cpu|sleeping|blocked|runnable) [0-9.]+%)");
  std::smatch m;
  return std::regex_search(title, m, first) ? m[1].str() : "";
}

class FlamegraphState : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::unmet({testing::bpf_backend()}).empty()) return;
    dir_ = new TempDir;
    profile_ = dir_->file("wall.pb.gz");
    record_ = new testing::RunResult(run({perfscope_binary(), "record", "--wall", "-F", "499", "-o",
                                          profile_, "--", target("ps-offcpu"), "mix", "8"}));
  }
  static void TearDownTestSuite() {
    delete record_;
    delete dir_;
    record_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    PS_REQUIRE(bpf_backend());
    ASSERT_EQ(record_->exit_code, 0) << record_->err;
  }
  static TempDir* dir_;
  static std::string profile_;
  static testing::RunResult* record_;
};

TempDir* FlamegraphState::dir_ = nullptr;
std::string FlamegraphState::profile_;
testing::RunResult* FlamegraphState::record_ = nullptr;

TEST_F(FlamegraphState, SvgColoursEachPhaseByItsStateWithALegend) {
  const auto svg_path = dir_->file("wall.svg");
  const auto r = run({perfscope_binary(), "flamegraph", "-i", profile_, "--colors", "state",
                      "--min-width", "0", "-o", svg_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read_file(svg_path);
  // The legend names the states the worker was in, then what a paler frame means.
  for (const char* key : {"on-cpu", "sleeping", "blocked"}) {
    EXPECT_NE(svg.find(std::string("<g class=\"legend-entry\" data-key=\"") + key + "\">"),
              std::string::npos)
        << key;
  }
  EXPECT_NE(svg.find("several states share"), std::string::npos);
  // nanosleep and the pipe read sleep (blue: blue above red), the vfork parent is blocked
  // (purple: red and blue above green), computing runs or waits to run.
  const SvgFrame nap = svg_frame(svg, "perfscope_targets::nap(");
  const SvgFrame reply = svg_frame(svg, "perfscope_targets::wait_reply(");
  const SvgFrame spawn = svg_frame(svg, "perfscope_targets::spawn_wait(");
  const SvgFrame compute = svg_frame(svg, "perfscope_targets::compute(");
  EXPECT_EQ(first_state(nap.title), "sleeping") << nap.title;
  EXPECT_GT(nap.b, nap.r + 40) << nap.title;
  EXPECT_EQ(first_state(reply.title), "sleeping") << reply.title;
  EXPECT_GT(reply.b, reply.r + 40) << reply.title;
  EXPECT_EQ(first_state(spawn.title), "blocked") << spawn.title;
  EXPECT_GT(spawn.r, spawn.g + 40) << spawn.title;
  EXPECT_GT(spawn.b, spawn.g + 40) << spawn.title;
  // (On a loaded machine computing is often half runnable: a pale frame, its hue not checked.)
  const std::string cs = first_state(compute.title);
  EXPECT_TRUE(cs == "on-cpu" || cs == "runnable") << compute.title;
  // The worker's start function holds every phase: its tooltip lists several states.
  const SvgFrame worker = svg_frame(svg, "perfscope_targets::worker_main(");
  EXPECT_NE(worker.title.find("sleeping"), std::string::npos) << worker.title;
  EXPECT_NE(worker.title.find("blocked"), std::string::npos) << worker.title;
}

TEST_F(FlamegraphState, HtmlPageHasTheStateLegendAndEachFramesStates) {
  const auto html_path = dir_->file("wall.html");
  const auto r =
      run({perfscope_binary(), "flamegraph", "-i", profile_, "--colors", "state", "-o", html_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_file(html_path);
  for (const char* key : {"on-cpu", "sleeping", "blocked"}) {
    EXPECT_NE(html.find(std::string("<li data-key=\"") + key + "\"><span class=\"swatch\""),
              std::string::npos)
        << key;
  }
  // Frames carry their states as an eighth element, the tooltip shows it.
  EXPECT_TRUE(std::regex_search(html, std::regex(R"(,\d+,"sleeping [0-9.]+%)"))) << html.size();
  EXPECT_TRUE(std::regex_search(html, std::regex(R"(,\d+,"blocked [0-9.]+%)")));
}

TEST_F(FlamegraphState, SpeedscopeEndsEachStackInItsState) {
  const auto json_path = dir_->file("wall.speedscope.json");
  const auto r =
      run({perfscope_binary(), "convert", "-i", profile_, "--to", "speedscope", "-o", json_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string json = read_file(json_path);
  for (const char* state : {"on-cpu", "sleeping", "blocked"}) {
    EXPECT_NE(json.find(std::string("{\"name\":\"[") + state + "]\",\"file\":\"[state]\""),
              std::string::npos)
        << state << "\n"
        << json.substr(0, 2000);
  }
}

TEST_F(FlamegraphState, ProfileWithoutStatesIsRefusedWithTheReason) {
  const auto folded = dir_->file("cpu.folded");
  std::ofstream(folded) << "main;work 10\n";
  const auto r = run({perfscope_binary(), "flamegraph", "-i", folded, "--colors", "state", "-o",
                      dir_->file("cpu.svg")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--off-cpu or --wall"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace perfscope
