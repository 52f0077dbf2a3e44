// Fuzz-style: random bytes and mutations of valid inputs through every flame graph reader and the
// renderer. Each must return a value or an Error, never crash or hang (ASan/UBSan builds check
// memory and overflow). Seeded, so a failure reproduces.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "formats/detect.hpp"
#include "formats/folded_reader.hpp"
#include "formats/perf_script.hpp"
#include "output/flamegraph_svg.hpp"
#include "profile/profile.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::output {
namespace {

using formats::FoldedReader;
using formats::PerfScriptReader;

constexpr std::string_view kPerfScript =
    "burn 15753  8533.567084:     250000 cpu-clock:ppp: \n"
    "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
    "\t           224b6 strcmp+0x16 (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)\n"
    "\t               0 [unknown] ([unknown])\n"
    "\n"
    "Web Content 1/2 [001] 1.5: 7 cycles:u:  4011a0 f(int)+0x1 (/bin/x)\n";
constexpr std::string_view kFolded = "app;main;parse 3\napp;main;read_[k] 2\napp;x_[j];y_[i] 1\n";

std::string mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = rng() % s.size();
    switch (rng() % 5) {
      case 0:
        s[at] = static_cast<char>(rng() & 0xff);
        break;
      case 1:
        s.erase(at, 1 + rng() % 8);
        break;
      case 2:
        s.insert(at, 1, static_cast<char>(" ;()[]+0x\n\t:/_k9"[rng() % 16]));
        break;
      case 3:
        s.resize(at);  // truncation
        break;
      default:
        s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 20));
    }
  }
  return s;
}

std::string random_bytes(std::mt19937_64& rng) {
  std::string s(rng() % 512, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Every reader on `input`; the SVG when one succeeded.
void run_all(const std::string& input) {
  (void)formats::detect_format(input);
  {
    StackTree t;
    FoldedReader r(t, "fuzz");
    if (r.add_text(input) && t.total() > 0) {
      auto svg = flamegraph_svg(t, {.min_width = 0});
      EXPECT_TRUE(svg);
      (void)folded_from_tree(t);
    }
  }
  {
    StackTree t;
    PerfScriptReader r(t, "fuzz", {.weight_by_period = true});
    if (r.add_text(input) && t.total() > 0) {
      StackTree base;
      base.add_names(std::vector<std::string_view>{"burn", "x"}, 1);
      EXPECT_TRUE(differential_svg(t, base, {}, {.normalize = true}));
    }
  }
  auto p = profile::decode_pprof(input, "fuzz");
  if (p && profile::validate(*p)) (void)tree_from_profile(*p);
}

TEST(FlamegraphFuzz, MutatedPerfScriptFoldedAndRandomBytesNeverCrash) {
  std::mt19937_64 rng(20240606);
  for (int i = 0; i < 3000; ++i) {
    run_all(mutate(std::string(kPerfScript), rng));
    run_all(mutate(std::string(kFolded), rng));
    if (i % 10 == 0) run_all(random_bytes(rng));
  }
}

TEST(FlamegraphFuzz, GarbagePprofIsAnErrorNotACrash) {
  testing::TestProfile t;
  t.add({"main", "work"}, 3);
  auto bytes = profile::encode_pprof(t.p);
  ASSERT_TRUE(bytes);
  std::mt19937_64 rng(7);
  int errors = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string bad = mutate(*bytes, rng);
    auto p = profile::decode_pprof(bad, "garbage.pb");
    if (!p) {
      ++errors;
      EXPECT_FALSE(p.error().op.empty());
      continue;
    }
    if (profile::validate(*p)) (void)tree_from_profile(*p);
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace perfscope::output
