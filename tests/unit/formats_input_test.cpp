// formats/: detect_format on every format, and load_input on real files of each, plain and gzipped
// (a gzipped folded file included), with filters, limits and the errors a person gets.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <string>

#include "formats/detect.hpp"
#include "formats/input.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/folded.hpp"
#include "output/speedscope.hpp"
#include "profile/gzip.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"
#include "support/profile_view.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::formats {
namespace {

constexpr const char* kFolded = "db;main;query 20\nweb;main;parse 60\nweb;main;serve 20\n";

constexpr const char* kPerfScript =
    "ps-burn 4242  100.000001:     250000 cpu-clock:ppp: \n"
    "\t            11bc perfscope_targets::burn_a+0x2e (/tmp/burn)\n"
    "\t            129d main+0x45 (/tmp/burn)\n"
    "\n"
    "ps-sort 4343  100.000002:     250000 cpu-clock:ppp: \n"
    "\tffffffff821f26e7 exc_page_fault+0xd7 ([kernel.kallsyms])\n"
    "\t            129d main+0x45 (/tmp/sort)\n"
    "\n";

std::string pprof_bytes() {
  auto bytes = profile::encode_pprof(testing::web_and_db().p);
  EXPECT_TRUE(bytes);
  return bytes ? *bytes : std::string();
}

std::string speedscope_text() {
  auto json = output::speedscope_json(testing::web_and_db().p);
  EXPECT_TRUE(json);
  return json ? *json : std::string();
}

std::string gzipped(std::string_view text) {
  auto z = profile::gzip(text, 6);
  EXPECT_TRUE(z);
  return z ? *z : std::string();
}

// The profile's samples as folded lines (comm labels as root frames).
std::string folded(const LoadedInput& in) {
  auto text = output::folded(in.profile);
  EXPECT_TRUE(text);
  return text ? *text : std::string();
}

class FormatsInput : public ::testing::Test {
 protected:
  std::string write(const std::string& name, std::string_view bytes) const {
    const std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  testing::TempDir dir_;
};

TEST(FormatsDetect, EveryFormatByItsFirstBytes) {
  EXPECT_EQ(detect_format(pprof_bytes()), Format::pprof);
  EXPECT_EQ(detect_format(speedscope_text()), Format::speedscope);
  EXPECT_EQ(detect_format("\xef\xbb\xbf \n\t{\"a\":1}"), Format::speedscope);
  EXPECT_EQ(detect_format(kPerfScript), Format::perf_script);
  EXPECT_EQ(detect_format(kFolded), Format::folded);
  EXPECT_EQ(detect_format("# comment\n\n  \nmain;a 1\r\n"), Format::folded);
  EXPECT_EQ(detect_format(""), std::nullopt);
  EXPECT_EQ(detect_format(" \n# only a comment\n"), std::nullopt);
  EXPECT_EQ(detect_format("hello world\n"), std::nullopt);
  EXPECT_EQ(detect_format("  [1]"), std::nullopt);
  EXPECT_EQ(detect_format("  main;a 1\n"), std::nullopt) << "an indented line is not folded";
  // perfscope's own folded output of a system-wide recording: a frame with spaces and a colon
  // looked like perf script's "COMM PID TIME:" header.
  EXPECT_EQ(detect_format("swapper;[unknown: process gone] 12\n"), Format::folded);
  EXPECT_EQ(detect_format("ps-burn;[unknown: process gone];burn_a 12\nps-burn;main 5\n"),
            Format::folded);
  // Binary that is not a profile.proto message: zeros (/dev/zero), and gzip not yet inflated.
  EXPECT_EQ(detect_format(std::string(65536, '\0')), std::nullopt);
  EXPECT_EQ(detect_format(gzipped(kFolded)), std::nullopt);
}

TEST(FormatsDetect, EveryPrefixOfAProfileLooksLikePprofAndRandomBytesRarelyDo) {
  const std::string bytes = pprof_bytes();
  for (std::size_t n = 1; n <= bytes.size(); ++n) {
    EXPECT_TRUE(profile::looks_like_pprof(std::string_view(bytes).substr(0, n))) << n;
  }
  EXPECT_FALSE(profile::looks_like_pprof(""));
  std::mt19937_64 rng(17);
  int taken = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string random(4096, '\0');
    for (char& c : random) c = static_cast<char>(rng() & 0xff);
    taken += profile::looks_like_pprof(random);
  }
  EXPECT_LT(taken, 50) << "random data mistaken for pprof";
}

TEST(FormatsDetect, HeadDecidesOnceTheFirstLineIsWhole) {
  EXPECT_FALSE(head_decides("main;parse;memcp"));
  EXPECT_FALSE(head_decides("# comment\n\nmain;parse"));
  EXPECT_TRUE(head_decides("main;parse 1\n"));
  EXPECT_TRUE(head_decides("{\"profiles\":"));
  EXPECT_TRUE(head_decides(std::string("\x0a\x04", 2)));
}

TEST_F(FormatsInput, ReadsEveryFormatPlainAndGzipped) {
  struct Case {
    std::string name;
    std::string bytes;
    Format format;
  };
  const std::vector<Case> cases{
      {"p.pb", pprof_bytes(), Format::pprof},
      {"p.pb.gz", gzipped(pprof_bytes()), Format::pprof},
      {"s.json", speedscope_text(), Format::speedscope},
      {"s.json.gz", gzipped(speedscope_text()), Format::speedscope},
      {"f.folded", kFolded, Format::folded},
      {"f.folded.gz", gzipped(kFolded), Format::folded},
  };
  for (const Case& c : cases) {
    auto in = load_input(write(c.name, c.bytes));
    ASSERT_TRUE(in) << c.name << ": " << in.error().describe();
    EXPECT_EQ(in->format, c.format) << c.name;
    EXPECT_EQ(in->source, dir_.file(c.name));
    EXPECT_EQ(profile::totals(in->profile).values[0], 100) << c.name;
    EXPECT_EQ(folded(*in), kFolded) << c.name;
  }
}

TEST_F(FormatsInput, PerfScriptCommsBecomeLabelsAndPidsFilterWhileReading) {
  for (const std::string& bytes : {std::string(kPerfScript), gzipped(kPerfScript)}) {
    auto in = load_input(write("perf.txt", bytes));
    ASSERT_TRUE(in) << in.error().describe();
    EXPECT_EQ(in->format, Format::perf_script);
    EXPECT_TRUE(in->notes.empty());
    EXPECT_GE(profile::LabelKeys(in->profile).comm, 0);
    // Two sample types: the samples, then their periods (cpu-clock's are nanoseconds), the
    // default, as perf report weighs samples.
    const profile::Profile& p = in->profile;
    ASSERT_EQ(p.sample_types.size(), 2u);
    EXPECT_EQ(p.string(p.sample_types[1].type), "cpu");
    EXPECT_EQ(p.string(p.sample_types[1].unit), "nanoseconds");
    EXPECT_EQ(p.string(p.default_sample_type), "cpu");
    EXPECT_EQ(folded(*in),
              "ps-burn;main;perfscope_targets::burn_a 1\nps-sort;main;exc_page_fault 1\n");
    const auto weighed = output::folded(p, {.value_index = 1});
    ASSERT_TRUE(weighed);
    EXPECT_EQ(*weighed,
              "ps-burn;main;perfscope_targets::burn_a 250000\n"
              "ps-sort;main;exc_page_fault 250000\n");
  }
  auto one = load_input(dir_.file("perf.txt"), {.filter = {.pids = {4343}}});
  ASSERT_TRUE(one);
  EXPECT_EQ(folded(*one), "ps-sort;main;exc_page_fault 1\n");

  // Without callchains each sample is one frame, and the note says why.
  auto flat = load_input(write("flat.txt", "burn 1 1.5: 1 cpu-clock:  10 f+0x1 (/b)\n"));
  ASSERT_TRUE(flat) << flat.error().describe();
  ASSERT_EQ(flat->notes.size(), 1u);
  EXPECT_NE(flat->notes[0].find("no callchains"), std::string::npos) << flat->notes[0];
}

TEST_F(FormatsInput, FiltersOnLabelsAndRefusesWhatAFormatCannotFilter) {
  const std::string pb = write("p.pb.gz", gzipped(pprof_bytes()));
  auto db = load_input(pb, {.filter = {.comm = "db"}});
  ASSERT_TRUE(db);
  EXPECT_EQ(folded(*db), "db;main;query 20\n");
  auto web = load_input(pb, {.filter = {.pids = {42}}});
  ASSERT_TRUE(web);
  EXPECT_EQ(profile::totals(web->profile).values[0], 80);

  auto root = load_input(write("f.folded", kFolded), {.filter = {.comm = "web"}});
  ASSERT_TRUE(root);
  EXPECT_EQ(folded(*root), "web;main;parse 60\nweb;main;serve 20\n");
  auto pid = load_input(dir_.file("f.folded"), {.filter = {.pids = {1}}});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().op, dir_.file("f.folded") +
                                " holds folded stacks, which carry no "
                                "process ids");
  auto json = load_input(write("s.json", speedscope_text()), {.filter = {.pids = {1}}});
  ASSERT_FALSE(json);
  EXPECT_NE(json.error().op.find("is a speedscope file, which carries no process ids"),
            std::string::npos);
}

// Issue 19: a folded file whose first stack is longer than the 64 KiB head was refused.
TEST_F(FormatsInput, AFirstStackLongerThanTheHeadIsStillFolded) {
  std::string line = "app";
  for (int i = 0; i < 8000; ++i) line += ";function_number_" + std::to_string(i);
  ASSERT_GT(line.size(), 150000u);
  for (const std::string& bytes : {line + " 7\nshort;stack 3\n", gzipped(line + " 7\n")}) {
    auto in = load_input(write("deep.folded", bytes));
    ASSERT_TRUE(in) << in.error().describe();
    EXPECT_EQ(in->format, Format::folded);
    EXPECT_EQ(in->profile.samples()[0].location_ids.size(), 8001u);
  }
}

TEST_F(FormatsInput, ErrorsNameTheInputAndTheFix) {
  auto missing = load_input(dir_.file("absent.pb.gz"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(),
            "cannot open " + dir_.file("absent.pb.gz") + ": No such file or directory");

  auto empty = load_input(write("empty", ""));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().op, dir_.file("empty") + " is empty");
  EXPECT_NE(empty.error().hint.find("perf script"), std::string::npos);

  auto text = load_input(write("text", "hello world\n"));
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().op, "cannot tell what " + dir_.file("text") + " holds");

  // /dev/zero never ends: the first 64 KiB tell it is no profile.
  auto zero = load_input("/dev/zero");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().op, "cannot tell what /dev/zero holds");

  const std::string gz = gzipped(kFolded);
  auto cut = load_input(write("cut.gz", gz.substr(0, gz.size() - 6)));
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().op.find("the gzip data ends early"), std::string::npos) << cut.error().op;
  auto trailing = load_input(write("trailing.gz", gz + "junk"));
  ASSERT_FALSE(trailing);
  EXPECT_NE(trailing.error().op.find("unexpected data after the end of the gzip stream"),
            std::string::npos);
}

TEST_F(FormatsInput, WholeFileFormatsAreReadUpToTheLimit) {
  testing::TestProfile big;
  for (int i = 0; i < 2000; ++i) big.add({"main", "f" + std::to_string(i)}, 1);
  auto bytes = profile::encode_pprof(big.p);
  ASSERT_TRUE(bytes);
  ASSERT_GT(bytes->size(), 50000u);
  const std::string path = write("big.pb.gz", gzipped(*bytes));
  auto refused = load_input(path, {.max_bytes = 40000});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().op,
            path + " is larger than 40000 bytes, more than perfscope reads of a pprof profile");
  EXPECT_EQ(refused.error().errnum, EFBIG);
  auto taken = load_input(path, {.max_bytes = bytes->size()});
  ASSERT_TRUE(taken) << taken.error().describe();
  EXPECT_EQ(taken->profile.samples().size(), 2000u);
}

// perf script names each frame's module ("(MODULE)"): user frames keep it as their location's
// mapping, so --colors module colours them; kernel frames stay in [kernel.kallsyms]. A function
// name seen in two modules keeps the first.
TEST_F(FormatsInput, PerfScriptFramesKeepTheirModules) {
  auto in = load_input(write("perf.txt", kPerfScript));
  ASSERT_TRUE(in) << in.error().describe();
  const profile::Profile& p = in->profile;
  std::map<std::string, std::string> module_of;  // function -> mapping file
  for (const profile::Location& l : p.locations()) {
    ASSERT_FALSE(l.lines.empty());
    const std::string fn(profile::function_name(p, p.function(l.lines.front().function_id)));
    module_of[fn] =
        l.mapping_id == 0 ? std::string() : std::string(p.string(p.mapping(l.mapping_id).filename));
  }
  EXPECT_EQ(module_of["perfscope_targets::burn_a"], "/tmp/burn");
  EXPECT_EQ(module_of["main"], "/tmp/burn");
  EXPECT_EQ(module_of["exc_page_fault"], "[kernel.kallsyms]");
  const auto modules = output::FrameModules::from_profile(p);
  EXPECT_EQ(modules.module_of("perfscope_targets::burn_a", output::FrameKind::user), "burn");
  EXPECT_EQ(modules.module_of("exc_page_fault", output::FrameKind::kernel), "[kernel.kallsyms]");
  // The stacks are those the text holds, with or without the modules.
  EXPECT_EQ(folded(*in),
            "ps-burn;main;perfscope_targets::burn_a 1\nps-sort;main;exc_page_fault 1\n");
}

}  // namespace
}  // namespace perfscope::formats
