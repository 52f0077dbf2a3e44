// Reading arithmetic (multiplexing scale, interval deltas) and decoding of PERF_FORMAT_GROUP reads
// from synthetic buffers.
#include "counting/reading.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "counting/counter_group.hpp"

namespace perfscope::counting {

// How gtest shows a Reading in failures (found by argument-dependent lookup, so it lives in the
// Reading's namespace; static keeps it to this file).
static void PrintTo(const Reading& r, std::ostream* os) {
  *os << "{value " << r.value << ", enabled " << r.time_enabled << ", running " << r.time_running
      << "}";
}

namespace {

struct ScaleCase {
  Reading reading;
  double scaled;
  double running_fraction;
  bool multiplexed;
  bool counted;
};

TEST(Reading, ScalesByEnabledOverRunning) {
  const ScaleCase cases[] = {
      {{100, 1000, 1000}, 100.0, 1.0, false, true},  // ran all the time: the value itself
      {{100, 1000, 500}, 200.0, 0.5, true, true},    // ran half the time: twice the value
      {{100, 1000, 250}, 400.0, 0.25, true, true},  {{3, 3000, 1000}, 9.0, 1.0 / 3.0, true, true},
      {{100, 1000, 0}, 0.0, 0.0, true, false},  // never ran: nothing to estimate from
      {{0, 0, 0}, 0.0, 1.0, false, true},       // never enabled: nothing was missed
      {{100, 0, 0}, 0.0, 1.0, false, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.reading));
    EXPECT_DOUBLE_EQ(c.reading.scaled(), c.scaled);
    EXPECT_DOUBLE_EQ(c.reading.running_fraction(), c.running_fraction);
    EXPECT_EQ(c.reading.multiplexed(), c.multiplexed);
    EXPECT_EQ(c.reading.counted(), c.counted);
  }
}

TEST(Reading, LargeValuesScaleWithoutOverflow) {
  const Reading r{std::uint64_t{1} << 62, std::uint64_t{1} << 40, std::uint64_t{1} << 39};
  EXPECT_DOUBLE_EQ(r.scaled(), 0x1p63);
}

TEST(Reading, SinceIsTheDifference) {
  const Reading earlier{100, 1000, 1000};
  const Reading later{150, 2000, 1500};
  EXPECT_EQ(later.since(earlier), (Reading{50, 1000, 500}));
  EXPECT_EQ(later.since(later), (Reading{0, 0, 0}));
  EXPECT_EQ(later.since(Reading{}), later);
}

TEST(Reading, SinceClampsEachFieldAtZero) {
  // A reset between reads makes the later value smaller: no wrap-around to 2^64.
  const Reading earlier{20, 10, 1};
  const Reading later{10, 5, 5};
  EXPECT_EQ(later.since(earlier), (Reading{0, 0, 4}));
}

TEST(Reading, PlusEqualsAddsEachField) {
  Reading total{1, 10, 5};
  total += Reading{2, 20, 15};
  EXPECT_EQ(total, (Reading{3, 30, 20}));
  Reading& same = (total += Reading{});
  EXPECT_EQ(&same, &total);
  EXPECT_EQ(total, (Reading{3, 30, 20}));
}

// Group reads: {nr, time_enabled, time_running, {value, id} x nr}.
class DecodeGroupRead : public ::testing::Test {
 protected:
  const std::vector<std::uint64_t> ids_ = {11, 22, 33};
  std::vector<Reading> out_;

  Status decode(const std::vector<std::uint64_t>& words) {
    return decode_group_read(words, ids_, out_);
  }
  void expect_malformed(const std::vector<std::uint64_t>& words, const char* op) {
    auto st = decode(words);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().op, op);
    EXPECT_EQ(st.error().errnum, EIO);
  }
};

const std::vector<Reading> kDecoded = {{5, 1000, 500}, {6, 1000, 500}, {7, 1000, 500}};

TEST_F(DecodeGroupRead, InOrder) {
  ASSERT_TRUE(decode({3, 1000, 500, 5, 11, 6, 22, 7, 33}));
  EXPECT_EQ(out_, kDecoded);
}

TEST_F(DecodeGroupRead, MatchesMembersById) {
  ASSERT_TRUE(decode({3, 1000, 500, 7, 33, 5, 11, 6, 22}));
  EXPECT_EQ(out_, kDecoded);
}

TEST_F(DecodeGroupRead, ReplacesWhatTheOutputHeld) {
  out_ = {{9, 9, 9}, {9, 9, 9}, {9, 9, 9}, {9, 9, 9}, {9, 9, 9}};
  ASSERT_TRUE(decode({3, 1000, 500, 6, 22, 7, 33, 5, 11}));
  EXPECT_EQ(out_, kDecoded);
}

TEST_F(DecodeGroupRead, SingleMember) {
  const std::vector<std::uint64_t> one = {42};
  ASSERT_TRUE(decode_group_read(std::vector<std::uint64_t>{1, 10, 10, 99, 42}, one, out_));
  EXPECT_EQ(out_, (std::vector<Reading>{{99, 10, 10}}));
}

TEST_F(DecodeGroupRead, UnknownIdIsAnError) {
  expect_malformed({3, 1000, 500, 5, 11, 6, 22, 7, 44}, "group read has an unknown member id");
}

TEST_F(DecodeGroupRead, ShortBufferIsAnError) {
  expect_malformed({3, 1000, 500, 5, 11, 6, 22}, "malformed group read");
  expect_malformed({3, 1000, 500, 5, 11, 6, 22, 7}, "malformed group read");
  expect_malformed({3, 1000}, "malformed group read");
  expect_malformed({}, "malformed group read");
}

TEST_F(DecodeGroupRead, MemberCountMismatchIsAnError) {
  expect_malformed({2, 1000, 500, 5, 11, 6, 22}, "malformed group read");
  expect_malformed({4, 1000, 500, 5, 11, 6, 22, 7, 33, 8, 44}, "malformed group read");
}

}  // namespace
}  // namespace perfscope::counting
