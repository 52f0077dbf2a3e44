// Cutting a Profile down to the samples `perfscope report` is asked about: threads (--tid),
// stacks through or not through some functions (--focus / --ignore, as go tool pprof's -focus and
// -ignore select samples) and time windows (--time, as perf report --time, in seconds from the
// start or in percent of the recording).
//
// Time comes from the "time" num label perfscope's recorder puts on every sample: the start of
// the sample's period (kTimeBucketMillis wide) in milliseconds after the recording's first
// sample. A profile recorded without it (older perfscope, other tools) cannot be cut in time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"

namespace perfscope::profile {

// The label key and the width of the periods the recorder stamps.
inline constexpr std::string_view kTimeLabel = "time";
inline constexpr std::int64_t kTimeBucketMillis = 100;

// One window: [start, end) in seconds from the start, or in percent of the whole span.
struct TimeRange {
  double start = 0;
  double end = -1;  // < 0: the end of the recording
  bool percent = false;
};

// "START-END", "START-", "-END" in seconds (fractions allowed), or "A%-B%"; several separated by
// commas. The Error says what was expected.
Result<std::vector<TimeRange>> parse_time_ranges(std::string_view text);

// What the profile's time labels span.
struct TimeSpan {
  bool labelled = false;   // some sample carries a time label
  std::int64_t width = 0;  // ms per period: the gcd of the periods' starts (kTimeBucketMillis
                           // when every sample is in the first)
  std::int64_t end = 0;    // ms: the last period's start + width
};
TimeSpan time_span(const Profile& p);

struct SliceOptions {
  std::vector<std::int64_t> tids = {};  // "tid" label is one of these
  std::string focus = {};               // ECMAScript regex: some frame's function matches
  std::string ignore = {};              // ECMAScript regex: no frame's function matches
  std::vector<TimeRange> time = {};     // the sample's period starts in one of these

  bool empty() const { return tids.empty() && focus.empty() && ignore.empty() && time.empty(); }
};

// Keeps the samples that pass every condition (what they refer to stays). Errors: a regex that
// does not compile, --time on a profile without time labels.
Status slice_samples(Profile& p, const SliceOptions& options);

// "3.2-4.5 s" for a period (or a merged run of periods) in ms.
std::string describe_period(std::int64_t start_ms, std::int64_t end_ms);

}  // namespace perfscope::profile
