// Questions `perfscope report` asks of a Profile: totals, filters, and the hottest functions,
// source lines, modules, processes or CPUs. Work is done on ids (one pass over the samples, no
// string work per frame); names are built once per distinct entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"

namespace perfscope::profile {

// New values go last: benchmarks pass a GroupBy as its number.
enum class GroupBy { function, module, process, cpu, line, state };
enum class SortBy { self, total };

// "function", "line", "module", "process", "cpu", "state"; the Error lists the choices.
Result<GroupBy> parse_group_by(std::string_view name);
// "self", "total".
Result<SortBy> parse_sort_by(std::string_view name);

// Which samples to look at; empty fields match every sample.
struct SampleFilter {
  std::vector<std::int64_t> pids = {};  // "pid" label is one of these
  std::string comm = {};                // "comm" label is exactly this

  bool empty() const { return pids.empty() && comm.empty(); }
};

// The ids of the conventional label keys in one profile; -1 for a key the profile never uses.
struct LabelKeys {
  explicit LabelKeys(const Profile& p);
  std::int64_t pid = -1, tid = -1, cpu = -1, comm = -1;
  std::int64_t state = -1;  // record --off-cpu/--wall: on-cpu, sleeping, blocked, runnable
};

// The num value of the first label with this key.
std::optional<std::int64_t> num_label(const Sample& s, std::int64_t key);
// The str value of the first label with this key; 0 ("") when absent.
StringId str_label(const Sample& s, std::int64_t key);

// A SampleFilter resolved against one profile: matching compares ids, never text.
class SampleMatcher {
 public:
  SampleMatcher(const Profile& p, const SampleFilter& f);
  bool operator()(const Sample& s) const;

 private:
  LabelKeys keys_;
  bool all_ = true;
  bool none_ = false;  // the comm is not in the profile at all
  std::vector<std::int64_t> pids_;
  std::int64_t comm_ = -1;
};

struct Totals {
  std::size_t samples = 0;           // Sample entries that matched
  std::vector<std::int64_t> values;  // sums, one per sample type
};
Totals totals(const Profile& p, const SampleFilter& filter = {});

// Which Sample::values entry weighs samples, chosen as `go tool pprof -sample_index` does: `name`
// is a sample type's type string ("alloc_space") or, when no type has that name, a 0-based index
// ("1"). An empty name is the profile's default: the sample type default_sample_type names, else
// the last one, as Go's pprof picks it (0 when the profile has no sample types at all, so an empty
// name never fails).
// The Error names `source` and lists the sample types there are:
//   the profile has no sample type "foo"; it has: samples, cpu
Result<std::size_t> sample_type_index(const Profile& p, std::string_view name,
                                      std::string_view source = "the profile");

// Samples the kernel dropped, from "perfscope: lost N samples" comments (summed).
std::int64_t lost_samples(const Profile& p);

struct QueryOptions {
  GroupBy by = GroupBy::function;
  SortBy sort = SortBy::self;
  std::size_t top = 0;          // 0: every entry
  std::size_t value_index = 0;  // which Sample::values entry weighs a sample
  SampleFilter filter = {};
};

// One row. For functions, lines and modules, self counts samples whose leaf frame (the innermost
// line of the leaf location) is this entry and total those with the entry anywhere in the stack,
// once per sample however often it recurs. Processes and CPUs are properties of the whole sample:
// self == total.
//
// A function inlined into another (any line of a Location but the last) is an entry of its own,
// named "NAME (inlined)", apart from the out-of-line NAME. By line, an entry is one source position
// "FILE:LINE NAME" (FILE as the profile stores it, NAME marked "(inlined)" as above); a line
// without a file or line number is "NAME (no line info)", and an unsymbolized location is named as
// by function ("libfoo.so+0x1a2b").
struct Entry {
  std::string name;  // function name, "FILE:LINE function", module basename, "comm (pid)", "cpu N"
  std::int64_t self = 0;
  std::int64_t total = 0;
};

struct Hottest {
  std::vector<Entry> entries;  // sorted (descending, then by name), at most `top`
  std::size_t distinct = 0;    // entries before the cut to `top`
  std::int64_t total = 0;      // weight of all matching samples: the 100% of percentages
  std::size_t samples = 0;     // matching Sample entries
};

// Error only for a value_index outside the profile's sample types.
Result<Hottest> hottest(const Profile& p, const QueryOptions& options);

}  // namespace perfscope::profile
