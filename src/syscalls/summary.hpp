// The syscall summary: per row (a syscall, or a syscall of one process or thread) the calls,
// errors by errno, time and a log2 latency histogram; both backends fill it, and it prints as the
// table `strace -c` prints.
#pragma once

#include <sys/types.h>

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::syscalls {

// Bucket b holds calls of [2^b, 2^(b+1)) ns of wall time (bucket 0 also holds 0 ns).
constexpr int kHistogramBuckets = 40;
int histogram_bucket(std::uint64_t ns);

enum class GroupBy { syscall, process, thread };
// "syscall", "process", "thread": --by's words and the JSON's "by".
const char* group_by_name(GroupBy by);
std::optional<GroupBy> parse_group_by(std::string_view text);

struct RowKey {
  std::uint32_t tgid = 0;  // 0 unless grouped by process or thread
  std::uint32_t tid = 0;   // 0 unless grouped by thread
  int nr = 0;
  std::string comm;  // the process's name at the call's exit, when grouped by process or thread
  auto operator<=>(const RowKey&) const = default;
};

struct RowStats {
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::uint64_t wall_ns = 0;  // entry to exit, summed
  std::uint64_t cpu_ns = 0;   // the same less time switched out (when the backend measures it)
  std::uint64_t min_ns = 0;   // of wall time, over timed calls
  std::uint64_t max_ns = 0;
  std::uint64_t timed = 0;  // calls whose entry was seen (a call already running at the start is
                            // counted but not timed)
  std::array<std::uint64_t, kHistogramBuckets> histogram{};
  std::map<int, std::uint64_t> errnos;  // errno -> failed calls

  // One finished call: `ret` is the raw return value (-errno on failure); `wall_ns` < 0 when its
  // entry was not seen.
  void add_call(std::int64_t wall_ns, std::int64_t cpu_ns, bool failed, int err);
  void merge(const RowStats& other);
};

struct Summary {
  GroupBy by = GroupBy::syscall;
  std::map<RowKey, RowStats> rows;
  std::string backend;           // "bpf" or "perf"
  bool cpu_time = false;         // cpu_ns is measured (else only wall time is)
  std::uint64_t lost = 0;        // calls or events the backend could not keep (lower bounds then)
  std::uint64_t unfinished = 0;  // calls that never returned (exit, exit_group, a killed thread)
  double elapsed_s = 0;

  RowStats total() const;
};

struct TableOptions {
  bool wall = false;       // time column from wall-clock time (-w), else on-CPU time when measured
  bool histogram = false;  // a latency histogram after the table, per row
};

// The strace -c table ("% time seconds usecs/call calls errors syscall", sorted by time, a total
// row), with pid/process or tid columns when grouped so, then the errors by errno name, then (with
// `histogram`) each row's latency histogram.
std::string format_table(const Summary& summary, const TableOptions& options);

// The time a row's time column shows, in ns.
std::uint64_t row_time_ns(const Summary& summary, const RowStats& row, bool wall);

// Rows sorted as the table prints them: by time, then calls, then name.
std::vector<std::pair<RowKey, RowStats>> sorted_rows(const Summary& summary, bool wall);

// The JSON of `syscalls --json` and of scenario's syscalls.json: rows sorted as the table, with
// the time column's "seconds" (by `wall` as the table's) beside the exact wall_ns/cpu_ns, errnos
// by name and (with `histogram`) the non-empty histogram buckets. Pretty-printed, ending in a
// newline.
std::string to_json(const Summary& summary, const TableOptions& options);
// Reads what to_json wrote back into a Summary (a histogram only when it was written).
Result<Summary> from_json(std::string_view text);

}  // namespace perfscope::syscalls
