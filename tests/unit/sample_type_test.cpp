// sample_type_index: how report and flamegraph turn --sample-type (a name, an index or nothing)
// into the Sample::values entry they count, honouring the profile's default_sample_type.
#include <gtest/gtest.h>

#include "profile/profile.hpp"
#include "profile/query.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::profile {
namespace {

// The four sample types of a Go heap profile, in pprof's order.
Profile heap_profile() {
  Profile p;
  p.sample_types = {{p.intern("alloc_objects"), p.intern("count")},
                    {p.intern("alloc_space"), p.intern("bytes")},
                    {p.intern("inuse_objects"), p.intern("count")},
                    {p.intern("inuse_space"), p.intern("bytes")}};
  return p;
}

std::size_t index_of(const Profile& p, std::string_view name) {
  auto i = sample_type_index(p, name);
  EXPECT_TRUE(i) << i.error().describe();
  return i ? *i : SIZE_MAX;
}

std::string error_of(const Profile& p, std::string_view name, std::string_view source = {}) {
  auto i = source.empty() ? sample_type_index(p, name) : sample_type_index(p, name, source);
  EXPECT_FALSE(i) << name << " gave " << (i ? *i : 0);
  return i ? std::string() : i.error().describe();
}

TEST(SampleType, ANameIsTheIndexOfTheTypeWithThatName) {
  const Profile p = heap_profile();
  EXPECT_EQ(index_of(p, "alloc_objects"), 0u);
  EXPECT_EQ(index_of(p, "alloc_space"), 1u);
  EXPECT_EQ(index_of(p, "inuse_objects"), 2u);
  EXPECT_EQ(index_of(p, "inuse_space"), 3u);
}

TEST(SampleType, AnIndexNumberIsAcceptedWhenInRange) {
  const Profile p = heap_profile();
  EXPECT_EQ(index_of(p, "0"), 0u);
  EXPECT_EQ(index_of(p, "3"), 3u);
  EXPECT_EQ(error_of(p, "4"),
            "the profile has no sample type \"4\"; it has: alloc_objects, alloc_space, "
            "inuse_objects, inuse_space");
  // Only a whole, plain number is an index.
  EXPECT_FALSE(sample_type_index(p, "-1"));
  EXPECT_FALSE(sample_type_index(p, "+1"));
  EXPECT_FALSE(sample_type_index(p, "1x"));
  EXPECT_FALSE(sample_type_index(p, " 1"));
  EXPECT_FALSE(sample_type_index(p, "99999999999999999999999"));
}

TEST(SampleType, ANameWinsOverAnIndexThatReadsTheSame) {
  Profile p;
  p.sample_types = {{p.intern("samples"), p.intern("count")}, {p.intern("0"), p.intern("count")}};
  EXPECT_EQ(index_of(p, "0"), 1u);
  EXPECT_EQ(index_of(p, "1"), 1u);
}

TEST(SampleType, NoNameIsTheDefaultSampleType) {
  Profile p = heap_profile();
  EXPECT_EQ(index_of(p, ""), 3u);  // default_sample_type 0: the last type, as Go's pprof
  p.default_sample_type = p.intern("inuse_space");
  EXPECT_EQ(index_of(p, ""), 3u);
  p.default_sample_type = p.intern("alloc_space");
  EXPECT_EQ(index_of(p, ""), 1u);
  // A name still chooses any type, whatever the default.
  EXPECT_EQ(index_of(p, "alloc_objects"), 0u);
}

TEST(SampleType, ADefaultThatNamesNoSampleTypeFallsBackToTheLast) {
  Profile p = heap_profile();
  p.default_sample_type = p.intern("bytes");  // a string of the profile, but a unit
  EXPECT_EQ(index_of(p, ""), 3u);
  p.default_sample_type = p.intern("no_such_type");
  EXPECT_EQ(index_of(p, ""), 3u);
}

TEST(SampleType, NoSampleTypesAtAllIsIndexZero) {
  Profile p;
  EXPECT_EQ(index_of(p, ""), 0u);
}

TEST(SampleType, TheDefaultSurvivesAPprofRoundTrip) {
  Profile p = heap_profile();
  p.intern("padding");  // so the ids the reader renumbers differ from these
  p.default_sample_type = p.intern("inuse_objects");
  auto bytes = encode_pprof(p);
  ASSERT_TRUE(bytes) << bytes.error().describe();
  auto back = decode_pprof(*bytes);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(index_of(*back, ""), 2u);
}

TEST(SampleType, CpuProfilesKeepValueZero) {
  // The recorder's types (samples/count, cpu/nanoseconds) and default_sample_type "samples".
  testing::TestProfile t;
  EXPECT_EQ(index_of(t.p, ""), 0u);
  // An older perfscope profile, without a default: cpu, the last type, as Go's pprof shows it.
  t.p.default_sample_type = 0;
  EXPECT_EQ(index_of(t.p, ""), 1u);
  t.p.default_sample_type = t.p.intern("samples");
  EXPECT_EQ(index_of(t.p, "samples"), 0u);
  EXPECT_EQ(index_of(t.p, "cpu"), 1u);
}

TEST(SampleType, AnUnknownNameListsTheTypesThereAre) {
  const testing::TestProfile t;
  EXPECT_EQ(error_of(t.p, "foo"), "the profile has no sample type \"foo\"; it has: samples, cpu");
  // A unit is not a type.
  EXPECT_EQ(error_of(t.p, "nanoseconds"),
            "the profile has no sample type \"nanoseconds\"; it has: samples, cpu");
  EXPECT_EQ(error_of(t.p, "foo", "the baseline old.pb.gz"),
            "the baseline old.pb.gz has no sample type \"foo\"; it has: samples, cpu");
}

TEST(SampleType, NamesInTheErrorArePrintable) {
  Profile p;
  p.sample_types = {{p.intern("a\nb"), p.intern("count")}, {0, p.intern("count")}};
  EXPECT_EQ(error_of(p, "x\ty"), "the profile has no sample type \"x y\"; it has: a b, \"\"");
}

TEST(SampleType, AProfileWithoutSampleTypes) {
  const Profile p;
  EXPECT_EQ(index_of(p, ""), 0u);  // never fails: the caller sees there is nothing to count
  EXPECT_EQ(error_of(p, "0"), "the profile has no sample type \"0\"; it has none");
  EXPECT_EQ(error_of(p, "samples"), "the profile has no sample type \"samples\"; it has none");
}

TEST(SampleType, TheIndexChoosesTheValuesHottestCounts) {
  Profile p = heap_profile();
  const auto fn = [&p](const char* name) {
    return p.add_location({.lines = {{.function_id = p.add_function(name, name, "")}}});
  };
  const std::uint64_t many_small = fn("many_small"), few_large = fn("few_large");
  // alloc_objects, alloc_space, inuse_objects, inuse_space
  p.add_sample({.location_ids = {many_small}, .values = {1000, 16'000, 10, 160}});
  p.add_sample({.location_ids = {few_large}, .values = {2, 8'000'000, 1, 4'000'000}});
  auto top = [&p](std::string_view type) {
    auto i = sample_type_index(p, type);
    EXPECT_TRUE(i);
    auto h = hottest(p, {.top = 1, .value_index = i ? *i : 0});
    EXPECT_TRUE(h);
    return h && !h->entries.empty() ? h->entries[0].name : std::string();
  };
  EXPECT_EQ(top("alloc_objects"), "many_small");
  EXPECT_EQ(top("alloc_space"), "few_large");
  EXPECT_EQ(top("inuse_objects"), "many_small");
  EXPECT_EQ(top("inuse_space"), "few_large");
  p.default_sample_type = p.intern("inuse_space");
  EXPECT_EQ(top(""), "few_large");
}

}  // namespace
}  // namespace perfscope::profile
