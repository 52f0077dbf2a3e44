// Samples grouped by perf report's sort keys (--sort comm,dso,sym,srcline in any order and any
// subset, plus pid, tid and cpu), by thread, and by time period: the tables of `perfscope report`
// that hottest() (one key, self and total) does not make.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::profile {

enum class SortKey { comm, pid, tid, dso, sym, srcline, cpu };

// "comm,dso,sym" (perf's spelling, any order, no repeats); the Error lists the keys there are.
Result<std::vector<SortKey>> parse_sort_keys(std::string_view text);
// The column title perf prints: "Command", "Shared Object", "Symbol", "Source:Line", ...
std::string_view sort_key_title(SortKey key);

// One row: a value per key, and the weight of the samples that have them. As perf report
// --no-children: a sample counts for its leaf frame's dso, symbol (the out-of-line function, as
// perf names an inlined leaf) and source line (the innermost, "file.cpp:12" by basename).
struct KeyedRow {
  std::vector<std::string> cells = {};
  std::int64_t weight = 0;
};

struct KeyedTable {
  std::vector<SortKey> keys = {};
  std::vector<KeyedRow> rows = {};  // heaviest first, then by cells; at most `top`
  std::size_t distinct = 0;         // rows before the cut
  std::int64_t total = 0;           // weight of every matching sample: the 100%
};

Result<KeyedTable> group_by_keys(const Profile& p, const std::vector<SortKey>& keys,
                                 std::size_t top, std::size_t value_index,
                                 const SampleFilter& filter = {});

// The profile's time periods in order, each with its weight and the function most of it ran
// (self), periods merged so that there are at most `max_rows`. Samples without a time label are
// counted in `unlabelled`.
struct Period {
  std::int64_t start_ms = 0, end_ms = 0;
  std::int64_t weight = 0;
  std::string hottest = {};  // "" when the period has no samples
  std::int64_t hottest_weight = 0;
};
struct Timeline {
  std::vector<Period> periods = {};
  std::int64_t total = 0;
  std::int64_t unlabelled = 0;
  std::int64_t width_ms = 0;  // of one row
};
// Error: a value_index outside the sample types, or a profile with no time labels.
Result<Timeline> timeline(const Profile& p, std::size_t max_rows, std::size_t value_index,
                          const SampleFilter& filter = {});

}  // namespace perfscope::profile
