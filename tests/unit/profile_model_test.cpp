// Profile: interning, deduplication, ids, and the consistency check every saved profile passes.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "profile/checked_math.hpp"
#include "profile/profile.hpp"
#include "unit/profile_builder.hpp"

namespace perfscope::profile {
namespace {

// Sums of sample values stop at the int64 limits instead of overflowing (undefined behaviour).
TEST(Profile, SaturatingAddStopsAtTheLimits) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  static_assert(profile::saturating_add(2, 3) == 5);
  static_assert(profile::saturating_add(kMax, 1) == kMax);
  static_assert(profile::saturating_add(kMax, kMax) == kMax);
  static_assert(profile::saturating_add(kMin, -1) == kMin);
  static_assert(profile::saturating_add(kMax, kMin) == -1);
  std::int64_t sum = kMax - 1;
  profile::add_saturating(sum, 5);
  EXPECT_EQ(sum, kMax);
}

TEST(Profile, StringZeroIsTheEmptyString) {
  Profile p;
  ASSERT_EQ(p.strings().size(), 1u);
  EXPECT_EQ(p.string(0), "");
  EXPECT_EQ(p.intern(""), 0u);
}

TEST(Profile, InternGivesOneIdPerText) {
  Profile p;
  const StringId a = p.intern("main");
  const StringId b = p.intern("parse");
  EXPECT_NE(a, b);
  EXPECT_EQ(p.intern("main"), a);
  EXPECT_EQ(p.intern(std::string("pa") + "rse"), b);
  EXPECT_EQ(p.string(a), "main");
  EXPECT_EQ(p.strings().size(), 3u);
}

TEST(Profile, InternKeepsIdsAcrossGrowth) {
  Profile p;
  std::vector<StringId> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(p.intern("fn" + std::to_string(i)));
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(p.intern("fn" + std::to_string(i)), ids[i]);
    ASSERT_EQ(p.string(ids[i]), "fn" + std::to_string(i));
  }
  EXPECT_EQ(p.strings().size(), 20001u);
}

TEST(Profile, FindStringNeverAdds) {
  Profile p;
  EXPECT_EQ(p.find_string("pid"), -1);
  EXPECT_EQ(p.strings().size(), 1u);
  const StringId id = p.intern("pid");
  EXPECT_EQ(p.find_string("pid"), static_cast<std::int64_t>(id));
  EXPECT_EQ(p.find_string(""), 0);
}

TEST(Profile, StringOutsideTheTableIsEmpty) {
  Profile p;
  EXPECT_EQ(p.string(12345), "");
}

TEST(Profile, FunctionsAreDeduplicatedByAllFourFields) {
  Profile p;
  const auto f = p.add_function("parse", "_Z5parsev", "parse.cc", 10);
  EXPECT_EQ(f, 1u);
  EXPECT_EQ(p.add_function("parse", "_Z5parsev", "parse.cc", 10), f);
  EXPECT_NE(p.add_function("parse", "_Z5parsei", "parse.cc", 10), f);
  EXPECT_NE(p.add_function("parse", "_Z5parsev", "other.cc", 10), f);
  EXPECT_NE(p.add_function("parse", "_Z5parsev", "parse.cc", 11), f);
  EXPECT_NE(p.add_function("parse2", "_Z5parsev", "parse.cc", 10), f);
  EXPECT_EQ(p.functions().size(), 5u);
  EXPECT_EQ(p.string(p.function(f).system_name), "_Z5parsev");
  EXPECT_EQ(p.function(f).start_line, 10);
}

// string(id) views the table; adding a function with new names beside such a view must not
// leave the view dangling when the table grows.
TEST(Profile, AddFunctionTakesViewsOfItsOwnStrings) {
  Profile p;
  const StringId file = p.intern("a.c");
  for (int i = 0; i < 1000; ++i) {
    const auto id = p.add_function("fn" + std::to_string(i), p.string(file), p.string(file), i);
    ASSERT_EQ(p.string(p.function(id).filename), "a.c");
    ASSERT_EQ(p.string(p.function(id).system_name), "a.c");
  }
}

TEST(Profile, IdsAreOneBasedAndIndexTheVectors) {
  Profile p;
  const auto m = p.add_mapping({.start = 0x1000, .limit = 0x2000, .filename = p.intern("/bin/x")});
  const auto fn = p.add_function("main", "", "");
  const auto l1 = p.add_location({m, 0x1010, {{fn, 3}}});
  const auto l2 = p.add_location({m, 0x1020, {{fn, 4}}});
  EXPECT_EQ(m, 1u);
  EXPECT_EQ(l1, 1u);
  EXPECT_EQ(l2, 2u);
  EXPECT_EQ(p.location(l2).address, 0x1020u);
  EXPECT_EQ(p.location(l2).lines[0].line, 4);
  EXPECT_EQ(p.mapping(m).limit, 0x2000u);
  p.add_sample({{l2, l1}, {}, {}});
  EXPECT_EQ(p.samples().size(), 1u);
}

// The indexes hold ids, not pointers: a copy interns and deduplicates on its own.
TEST(Profile, CopiesAreIndependentValues) {
  Profile a;
  a.intern("x");
  a.add_function("f", "", "");
  Profile b = a;
  EXPECT_EQ(b.intern("x"), a.intern("x"));
  EXPECT_EQ(b.add_function("f", "", ""), 1u);
  b.intern("only in b");
  EXPECT_EQ(a.find_string("only in b"), -1);
  Profile c = std::move(b);
  EXPECT_EQ(c.find_string("only in b"), 3);
  EXPECT_EQ(c.add_function("g", "", ""), 2u);
}

TEST(Validate, AcceptsAProfileBuiltThroughTheApi) {
  testing::TestProfile t;
  t.add({"main", "parse"}, 3);
  t.add({"main"}, 1);
  EXPECT_TRUE(validate(t.p));
}

TEST(Validate, NamesALocationThatRefersToAMissingFunction) {
  testing::TestProfile t;
  t.p.add_location({0, 0x10, {{7, 0}}});
  const auto st = validate(t.p);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(),
            "inconsistent profile: location 1 refers to function 7, which does not exist");
}

TEST(Validate, NamesASampleWithTheWrongNumberOfValues) {
  testing::TestProfile t;
  t.p.add_sample({{}, {1}, {}});
  const auto st = validate(t.p);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "inconsistent profile: sample 1 has 1 values for 2 sample types");
}

TEST(Validate, NamesASampleThatRefersToAMissingLocation) {
  testing::TestProfile t;
  t.p.add_sample({{3}, {1, 1}, {}});
  const auto st = validate(t.p);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("sample 1 refers to location 3"), std::string::npos);
}

TEST(Validate, RejectsAMissingMappingAndBadStrings) {
  testing::TestProfile t;
  t.p.add_location({5, 0x10, {}});
  EXPECT_FALSE(validate(t.p));
  testing::TestProfile u;
  u.p.comments.push_back(999);
  EXPECT_FALSE(validate(u.p));
}

}  // namespace
}  // namespace perfscope::profile
