// speedscope JSON: the writer against a golden file (PERFSCOPE_BLESS=1 rewrites it), round trips
// through the reader and pprof that keep every stack and count, the reader on evented and
// multi-profile files written by hand, and on damaged input: every error names the problem, and
// nothing crashes (truncations at every length, seeded mutations, deep nesting).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>

#include "formats/folded_reader.hpp"
#include "formats/speedscope_reader.hpp"
#include "formats/stack_profile.hpp"
#include "output/folded.hpp"
#include "output/speedscope.hpp"
#include "output/stack_tree.hpp"
#include "profile/profile.hpp"
#include "unit/golden.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::output {
namespace {

using formats::FoldedReader;
using formats::parse_speedscope;
using formats::profile_from_tree;

using testing::expect_golden;

using testing::TestProfile;
using testing::Thread;

const Thread kWeb{.pid = 42, .tid = 42, .cpu = 0, .comm = "web"};
const Thread kDb{.pid = 77, .tid = 78, .cpu = 1, .comm = "db"};

// A kernel function as the recorder writes one: in [kernel.kallsyms], no source file.
std::uint64_t kernel_frame(TestProfile& t, const std::string& name) {
  const std::uint64_t m = t.mapping("[kernel.kallsyms]");
  const std::uint64_t f = t.p.add_function(name, "", "", 0);
  return t.p.add_location({.mapping_id = m,
                           .address = t.p.mapping(m).start + 0x40 * t.p.locations().size(),
                           .lines = {{.function_id = f}}});
}

void add_stack(TestProfile& t, std::vector<std::uint64_t> leaf_first, std::int64_t count,
               const Thread& th) {
  profile::Sample s{.location_ids = std::move(leaf_first),
                    .values = {count, count * TestProfile::kPeriod}};
  s.labels = {{.key = t.p.intern("pid"), .num = th.pid},
              {.key = t.p.intern("comm"), .str = t.p.intern(th.comm)}};
  t.p.add_sample(std::move(s));
}

// Two processes, a kernel frame, an inlined function, a name that needs JSON escaping.
profile::Profile fixture(bool reversed = false) {
  TestProfile t;
  std::vector<std::function<void()>> adds = {
      [&] {
        t.add({"main", "parse", "memcpy"}, 60, kWeb);
      },
      [&] {
        t.add({"main", "parse"}, 20, kWeb);
      },
      [&] {
        t.add({"main", "query \"<all>\""}, 15, kDb);
      },
      [&] {
        add_stack(
            t, {kernel_frame(t, "sys_write"), t.frame("write"), t.frame("serve"), t.frame("main")},
            10, kWeb);
      },
      [&] {
        add_stack(t, {t.inlined({"inl_helper", "render"}), t.frame("main")}, 5, kWeb);
      },
  };
  if (reversed) std::reverse(adds.begin(), adds.end());
  for (auto& add : adds) add();
  return t.p;
}

std::string folded_text(const profile::Profile& p) {
  auto f = folded(p, {.annotate = true});
  EXPECT_TRUE(f) << f.error().describe();
  return f ? *f : std::string();
}

profile::Profile parse_ok(std::string_view json) {
  auto p = parse_speedscope(json, "test.json");
  EXPECT_TRUE(p) << p.error().describe();
  return p ? std::move(*p) : profile::Profile{};
}

TEST(SpeedscopeFormat, GoldenSampled) {
  auto json = speedscope_json(fixture(), {.name = "fixture"});
  ASSERT_TRUE(json) << json.error().describe();
  expect_golden("speedscope_small.json", *json);
  EXPECT_TRUE(
      json->starts_with("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"));
  EXPECT_NE(json->find("{\"name\":\"sys_write\",\"file\":\"[kernel.kallsyms]\"}"),
            std::string::npos)
      << *json;
  EXPECT_NE(json->find("{\"name\":\"query \\\"\\u003call\\u003e\\\"\",\"file\":\"/usr/bin/app.c\","
                       "\"line\":1}"),
            std::string::npos);
  EXPECT_NE(json->find("\"type\":\"sampled\",\"name\":\"fixture\",\"unit\":\"none\","
                       "\"startValue\":0,\"endValue\":110"),
            std::string::npos);
}

TEST(SpeedscopeFormat, OutputDependsOnStacksNotSampleOrder) {
  EXPECT_EQ(*speedscope_json(fixture()), *speedscope_json(fixture(true)));
}

TEST(SpeedscopeFormat, RoundTripKeepsStacksCountsAndKernelFrames) {
  const profile::Profile original = fixture();
  auto json = speedscope_json(original);
  ASSERT_TRUE(json);
  const profile::Profile back = parse_ok(*json);
  EXPECT_EQ(folded_text(original),
            "db;main;query \"<all>\" 15\n"
            "web;main;parse 20\n"
            "web;main;parse;memcpy 60\n"
            "web;main;render;inl_helper_[i] 5\n"
            "web;main;serve;write;sys_write_[k] 10\n");
  // speedscope has no inline grouping: the inlined function comes back as a frame of its own.
  const std::string expected =
      "db;main;query \"<all>\" 15\n"
      "web;main;parse 20\n"
      "web;main;parse;memcpy 60\n"
      "web;main;render;inl_helper 5\n"
      "web;main;serve;write;sys_write_[k] 10\n";
  EXPECT_EQ(folded_text(back), expected);
  ASSERT_EQ(back.sample_types.size(), 1u);
  EXPECT_EQ(back.string(back.sample_types[0].type), "samples");
  EXPECT_EQ(back.string(back.sample_types[0].unit), "count");

  // ... and through pprof's encoding: speedscope -> pprof -> folded.
  auto encoded = profile::encode_pprof(back);
  ASSERT_TRUE(encoded) << encoded.error().describe();
  auto decoded = profile::decode_pprof(*encoded);
  ASSERT_TRUE(decoded) << decoded.error().describe();
  EXPECT_EQ(folded_text(*decoded), expected);

  // Source files and lines survive.
  bool found = false;
  for (const auto& f : back.functions()) {
    if (back.string(f.name) == "memcpy") {
      found = true;
      EXPECT_EQ(back.string(f.filename), "/usr/bin/app.c");
      EXPECT_EQ(f.start_line, 1);
    }
  }
  EXPECT_TRUE(found);
}

TEST(SpeedscopeFormat, TimeValuesKeepTheirUnit) {
  auto json = speedscope_json(fixture(), {.value_index = 1});
  ASSERT_TRUE(json);
  EXPECT_NE(json->find("\"unit\":\"nanoseconds\""), std::string::npos);
  const profile::Profile back = parse_ok(*json);
  EXPECT_EQ(back.string(back.sample_types[0].unit), "nanoseconds");
  EXPECT_NE(folded_text(back).find("web;main;parse;memcpy 600000000\n"), std::string::npos);
}

TEST(SpeedscopeFormat, WriterErrors) {
  EXPECT_FALSE(speedscope_json(fixture(), {.value_index = 2}));
  TestProfile t;
  t.add({"main"}, -3);
  auto negative = speedscope_json(t.p);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().op.find("negative"), std::string::npos);
}

TEST(SpeedscopeFormat, ProfileFromTreeKeepsKindsAndInlining) {
  constexpr std::string_view kFolded =
      "app;main;jit_code_[j] 4\n"
      "app;main;parse;memcpy 60\n"
      "app;main;serve;render_[i] 5\n"
      "app;main;serve;write;sys_write_[k] 10\n"
      "app;main 1\n";
  StackTree tree;
  FoldedReader r(tree, "fixture");
  ASSERT_TRUE(r.add_text(kFolded));
  const profile::Profile p = profile_from_tree(tree);
  ASSERT_TRUE(profile::validate(p));
  auto again = tree_from_profile(p);
  ASSERT_TRUE(again);
  EXPECT_EQ(folded_from_tree(*again), folded_from_tree(tree));
  // render was inlined into serve: one location with both.
  std::size_t two_line_locations = 0;
  for (const auto& l : p.locations()) two_line_locations += l.lines.size() == 2;
  EXPECT_EQ(two_line_locations, 1u);
}

TEST(SpeedscopeFormat, ReadsEventedProfilesAsTimeBetweenEvents) {
  const profile::Profile p = parse_ok(R"({
    "$schema": "https://www.speedscope.app/file-format-schema.json",
    "shared": {"frames": [{"name": "a", "file": "a.c", "line": 3}, {"name": "b"}]},
    "profiles": [{"type": "evented", "name": "t", "unit": "milliseconds",
                  "startValue": 0, "endValue": 10,
                  "events": [{"type": "O", "frame": 0, "at": 0}, {"type": "O", "frame": 1, "at": 2},
                             {"type": "C", "frame": 1, "at": 5.5}, {"type": "C", "frame": 0, "at": 10}]}]
  })");
  EXPECT_EQ(p.string(p.sample_types[0].type), "time");
  EXPECT_EQ(p.string(p.sample_types[0].unit), "nanoseconds");
  EXPECT_EQ(folded_text(p), "a 6500000\na;b 3500000\n");
}

// Time goes to the path of open frames, so a path opened twice sums, and a path open for no time
// is no sample.
TEST(SpeedscopeFormat, EventedPathsSumAcrossReopens) {
  const profile::Profile p = parse_ok(R"({
    "shared": {"frames": [{"name": "a"}, {"name": "b"}]},
    "profiles": [{"type": "evented", "unit": "none", "startValue": 0, "endValue": 9,
                  "events": [{"type": "O", "frame": 0, "at": 0}, {"type": "O", "frame": 1, "at": 1},
                             {"type": "C", "frame": 1, "at": 3}, {"type": "O", "frame": 1, "at": 4},
                             {"type": "C", "frame": 1, "at": 5}, {"type": "O", "frame": 0, "at": 5},
                             {"type": "C", "frame": 0, "at": 5}, {"type": "C", "frame": 0, "at": 6},
                             {"type": "O", "frame": 1, "at": 7}]}]
  })");
  EXPECT_EQ(folded_text(p), "a 3\na;b 3\nb 2\n");
}

// n frames opened one inside the other, one unit apart, never closed: depth d holds 1 unit (the
// deepest 2, up to endValue).
std::string nested_events(int n) {
  std::string json = R"({"shared":{"frames":[{"name":"a"},{"name":"b"}]},)"
                     R"("profiles":[{"type":"evented","unit":"none","startValue":0,"endValue":)" +
                     std::to_string(n + 1) + R"(,"events":[)";
  for (int i = 0; i < n; ++i) {
    json += (i ? "," : "") + std::string(R"({"type":"O","frame":)") + std::to_string(i % 2) +
            R"(,"at":)" + std::to_string(i) + "}";
  }
  return json + "]}]}";
}

TEST(SpeedscopeFormat, DeepEventNestingKeepsEveryStackUpToABound) {
  const profile::Profile p = parse_ok(nested_events(2000));
  ASSERT_EQ(p.samples().size(), 2000u);
  std::size_t frames = 0;
  for (const auto& s : p.samples()) frames += s.location_ids.size();
  EXPECT_EQ(frames, 2000u * 2001u / 2);
  // 6,000 deep: 18,003,000 frames, past the 2^24 bound: an error, not gigabytes.
  auto deep = parse_speedscope(nested_events(6000), "deep.json");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().op,
            "deep.json: profile 1 nests frames so deeply that its stacks would hold 18003000 "
            "frames (more than 16777216)");
}

// Weights up to 2^63 (INT64_MAX as a double) are read, saturating; their sums saturate too.
TEST(SpeedscopeFormat, HugeWeightsSaturateAtInt64Max) {
  auto sampled = [](const std::string& weights) {
    return R"({"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"sampled",)"
           R"("samples":[[0],[0]],"weights":[)" +
           weights + "]}]}";
  };
  EXPECT_EQ(folded_text(parse_ok(sampled("8.9e18, 8.9e18"))), "a 9223372036854775807\n");
  EXPECT_EQ(folded_text(parse_ok(sampled("9223372036854775807, 0"))), "a 9223372036854775807\n");
  auto too_large = parse_speedscope(sampled("1e19, 1"), "big.json");
  ASSERT_FALSE(too_large);
  EXPECT_EQ(too_large.error().op, "big.json: a weight of 1e+19 none is too large");
}

TEST(SpeedscopeFormat, SeveralProfilesBecomeCommLabels) {
  const profile::Profile p = parse_ok(R"({"profiles": [
      {"type": "sampled", "name": "MainThread", "unit": "none", "startValue": 0, "endValue": 3,
       "samples": [[0, 1], [0, 1], [0]], "weights": [1, 1, 1]},
      {"type": "sampled", "name": "worker", "unit": "none", "startValue": 0, "endValue": 2,
       "samples": [[2], []], "weights": [2, 9]}],
    "shared": {"frames": [{"name": "main"}, {"name": "caf\u00e9 \ud83d\ude00"}, {"name": "w"}]},
    "exporter": "py-spy", "unknown": {"nested": [1, {"x": null}, true, false, -1.5e3]}})");
  EXPECT_EQ(folded_text(p),
            "MainThread;main 1\n"
            "MainThread;main;caf\xc3\xa9 \xf0\x9f\x98\x80 2\n"
            "worker;w 2\n");
}

TEST(SpeedscopeFormat, DeepNestingInUnknownMembersIsSkippedWithoutRecursion) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto p = parse_speedscope("{\"x\":" + deep + ",\"profiles\":[]}", "deep.json");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().op, "deep.json holds no profiles (\"profiles\" is empty)");
}

TEST(SpeedscopeFormat, DamagedFilesGiveAnErrorNamingTheProblem) {
  const std::string frames = R"("shared":{"frames":[{"name":"a"}]})";
  auto sampled = [&](const std::string& rest) {
    return "{" + frames + R"(,"profiles":[{"type":"sampled",)" + rest + "}]}";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is not a speedscope file (it does not start with '{')"},
      {"[1,2]", "is not a speedscope file"},
      {"{", "test.json:1:2: the file ends"},
      {R"({"a":1})", "is JSON but not a speedscope file: it has no \"profiles\""},
      {R"({"profiles":[]})", "holds no profiles"},
      {sampled(R"("samples":[[0]],"weights":[1,2])"), "profile 1 has 1 samples but 2 weights"},
      {sampled(R"("samples":[[0,3]],"weights":[1])"),
       "profile 1 refers to frame 3, but shared.frames has 1"},
      {sampled(R"("samples":[[0]])"), "lacks \"samples\" or \"weights\""},
      {sampled(R"("samples":[[0]],"weights":[-1])"), "weight -1 is negative"},
      {sampled(R"("samples":[[0.5]],"weights":[1])"), "sample frame 0.5 is not a frame index"},
      {sampled(R"("samples":[0],"weights":[1])"), "a sample must be an array of frame indexes"},
      {sampled(R"("samples":[[0]],"weights":["1"])"), "\"weights\" must be a number"},
      {sampled(R"("unit":"furlongs","samples":[[0]],"weights":[1])"),
       "profile 1 has unit 'furlongs'"},
      {"{" + frames + R"(,"profiles":[{"type":"flame"}]})", "profile 1 has type 'flame'"},
      {"{" + frames +
           R"(,"profiles":[{"type":"sampled","name":"x","unit":"bytes","samples":[],"weights":[]},)"
           R"({"type":"sampled","name":"y","unit":"seconds","samples":[],"weights":[]}]})",
       "profile 2 ('y') counts in seconds, but profile 1 in bytes"},
      {"{" + frames +
           R"(,"profiles":[{"type":"evented","events":[{"type":"O","frame":0,"at":1},)"
           R"({"type":"C","frame":0,"at":0}]}]})",
       "event 1 is at 0, before the event ahead of it (1)"},
      {"{" + frames +
           R"(,"profiles":[{"type":"evented","events":[{"type":"C","frame":0,"at":1}]}]})",
       "event 0 closes frame 0, which is not the innermost open frame"},
      {"{" + frames +
           R"(,"profiles":[{"type":"evented","events":[{"type":"X","frame":0,"at":1}]}]})",
       "event type 'X' is neither"},
      {sampled(R"("samples":[[0]],"weights":[1])") + " x", "unexpected text after the end"},
      {R"({"profiles":[{"type":"sampled","name":"a\q"}]})", "unknown escape '\\q'"},
      {"{\"profiles\":[{\"type\":\"sampled\",\"name\":\"a\x01\"}]}", "a control character"},
      {R"({"profiles":[{"type":"sampled",}]})", "test.json:1:32: expected a member name"},
      {R"({"profiles":[{"type":"sampled" "x"}]})", "expected ',' or '}'"},
      {R"({"profiles":[{"type":"sampled","samples":[[1e999]]}]})", "a number out of range"},
      {R"({"shared":{"frames":[{"file":"a.c"}]},"profiles":[]})", "frame 0 has no \"name\""},
  };
  for (const auto& [input, expected] : cases) {
    auto p = parse_speedscope(input, "test.json");
    ASSERT_FALSE(p) << input;
    EXPECT_NE(p.error().op.find(expected), std::string::npos)
        << "input: " << input << "\nerror: " << p.error().op << "\nexpected: " << expected;
    EXPECT_EQ(p.error().op.find('\n'), std::string::npos) << p.error().op;
  }
}

TEST(SpeedscopeFormat, TruncationsAndMutationsNeverCrash) {
  const std::string json = *speedscope_json(fixture());
  for (std::size_t n = 0; n < json.size(); ++n) {
    auto p = parse_speedscope(std::string_view(json).substr(0, n), "cut.json");
    // Cut at the very end only the final newline is missing; everything before is an error.
    if (n + 1 < json.size()) {
      EXPECT_FALSE(p) << n;
    }
  }
  std::mt19937_64 rng(7);
  for (int round = 0; round < 3000; ++round) {
    std::string s = json;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s[at] = static_cast<char>(rng() & 0xff);
          break;
        case 1:
          s.erase(at, 1 + rng() % 16);
          break;
        case 2:
          s.insert(at, 1, "[]{},:\"\\0-9e."[rng() % 14]);
          break;
        default:
          s[at] = static_cast<char>('0' + rng() % 10);
      }
      if (s.empty()) break;
    }
    auto p = parse_speedscope(s, "mutated.json");
    if (p) {
      EXPECT_TRUE(profile::validate(*p)) << s;
    } else {
      EXPECT_FALSE(p.error().op.empty());
    }
  }
}

}  // namespace
}  // namespace perfscope::output
