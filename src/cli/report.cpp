// `perfscope report`: a saved profile (any input formats/ reads) as tables (hottest functions,
// source lines, modules, processes, CPUs) or as folded stacks. Reads a file only: works on any
// machine, with no kernel access.
#include "cli/report.hpp"

#include <time.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>
#include <string_view>
#include <tuple>
#include <vector>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "cli/report_explore.hpp"
#include "core/output_file.hpp"
#include "formats/input.hpp"
#include "output/folded.hpp"
#include "perfdata/perf_data_reader.hpp"
#include "process/targets.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"
#include "profile/stack_quality.hpp"

namespace perfscope::cli {
namespace {

struct ReportOptions {
  std::string input = formats::kDefaultProfile;
  std::string output = "-";
  std::string sort = "self";
  std::string by = "function";
  bool by_given = false;  // --by was on the command line (its default does not clash with --lines)
  bool lines = false;     // --lines: short for --by line
  std::size_t top = 20;
  std::string pids;
  std::string comm;
  std::string sample_type;  // empty: the profile's default
  std::uint64_t max_input_mib = formats::kDefaultMaxInputBytes >> 20;  // --max-input
  bool folded = false;
  bool no_comm = false;
  bool annotate = false;   // --annotate: kind suffixes in --folded output
  ExploreOptions explore;  // -g, --callers, --time, --annotate FUNC, ... (report_explore.hpp)
};

// Rows of each breakdown under the main table.
constexpr std::size_t kBreakdownRows = 5;

std::string describe_filter(const profile::SampleFilter& f) {
  std::string out;
  if (!f.pids.empty()) out = fmt::format("pid {}", fmt::join(f.pids, ","));
  if (!f.comm.empty()) out += fmt::format("{}comm '{}'", out.empty() ? "" : ", ", f.comm);
  return out;
}

// Below 1 KiB "77 bytes", else "1.50 MiB" (binary prefixes, as heap profilers print sizes).
std::string format_bytes(std::int64_t v) {
  constexpr const char* kPrefixes[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double size = static_cast<double>(v);
  if (std::abs(size) < 1024) return fmt::format("{} bytes", v);
  std::size_t i = 0;
  for (size /= 1024; std::abs(size) >= 1024 && i + 1 < std::size(kPrefixes); size /= 1024) ++i;
  return fmt::format("{:.2f} {}", size, kPrefixes[i]);
}

// "1234 samples", "12.345 s cpu", "77 bytes alloc_space", "1.50 MiB alloc_space".
std::string format_value(const profile::Profile& p, std::size_t i, std::int64_t v) {
  const std::string_view type = p.string(p.sample_types[i].type);
  const std::string_view unit = p.string(p.sample_types[i].unit);
  if (unit == "nanoseconds") return fmt::format("{:.3f} s {}", static_cast<double>(v) / 1e9, type);
  if (unit == "bytes") return fmt::format("{} {}", format_bytes(v), type);
  if (unit == "count" || unit.empty()) return fmt::format("{} {}", v, type);
  return fmt::format("{} {} {}", v, unit, type);
}

// A Self or Total cell: "42" for counts and units without a scale, "0.600 s", "1.50 MiB".
std::string format_cell(std::string_view unit, std::int64_t v) {
  if (unit == "nanoseconds") return fmt::format("{:.3f} s", static_cast<double>(v) / 1e9);
  if (unit == "bytes") return format_bytes(v);
  return fmt::format("{}", v);
}

std::string format_time(std::int64_t nanos) {
  const time_t t = static_cast<time_t>(nanos / 1000000000);
  struct tm tm;
  if (::gmtime_r(&t, &tm) == nullptr) return fmt::format("{} ns after the epoch", nanos);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

double percent(std::int64_t part, std::int64_t whole) {
  return whole != 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// `value` is the sample type the tables count: it comes first on the Total line.
void append_header(std::string& out, const ReportOptions& o, const profile::Profile& p,
                   std::size_t value, const profile::Totals& all, const profile::Totals& matched,
                   const profile::SampleFilter& filter) {
  fmt::format_to(std::back_inserter(out), "Profile: {}\n", o.input);
  std::vector<std::string> totals;
  if (value < p.sample_types.size()) totals.push_back(format_value(p, value, all.values[value]));
  for (std::size_t i = 0; i < p.sample_types.size(); ++i) {
    if (i != value) totals.push_back(format_value(p, i, all.values[i]));
  }
  fmt::format_to(std::back_inserter(out), "Total: {}\n",
                 totals.empty() ? "no sample types" : fmt::to_string(fmt::join(totals, ", ")));
  if (const std::int64_t lost = profile::lost_samples(p); lost > 0) {
    fmt::format_to(std::back_inserter(out),
                   "Lost: {} samples (dropped by the kernel: the profile undercounts)\n", lost);
  }
  if (p.duration_nanos > 0 || p.time_nanos > 0) {
    std::string line = "Duration: ";
    line += p.duration_nanos > 0
                ? fmt::format("{:.3f} s", static_cast<double>(p.duration_nanos) / 1e9)
                : "unknown";
    if (p.time_nanos > 0) line += ", started " + format_time(p.time_nanos);
    fmt::format_to(std::back_inserter(out), "{}\n", line);
  }
  if (p.period > 0) {
    fmt::format_to(std::back_inserter(out), "Period: {} {} of {}\n", p.period,
                   p.string(p.period_type.unit), p.string(p.period_type.type));
  }
  // Computed from the stacks themselves, so it holds for any profile (perf's, converted, merged).
  if (const auto reach = profile::user_stack_reach(p); reach.with_user_stack > 0) {
    fmt::format_to(std::back_inserter(out),
                   "User stacks: {:.1f}% of samples with a user stack reach main or a thread start "
                   "({} of {})\n",
                   percent(reach.reaching_root, reach.with_user_stack), reach.reaching_root,
                   reach.with_user_stack);
  }
  for (profile::StringId c : p.comments) {
    const std::string_view text = p.string(c);
    if (!text.starts_with("perfscope: lost ") &&
        !text.starts_with("perfscope: user stacks reaching ")) {
      fmt::format_to(std::back_inserter(out), "Note: {}\n", profile::printable(text));
    }
  }
  if (!filter.empty() && value < p.sample_types.size()) {
    fmt::format_to(std::back_inserter(out), "Filter: {}: {} ({:.1f}%)\n", describe_filter(filter),
                   format_value(p, value, matched.values[value]),
                   percent(matched.values[value], all.values[value]));
  }
}

const char* plural(profile::GroupBy by) {
  switch (by) {
    case profile::GroupBy::function:
      return "functions";
    case profile::GroupBy::line:
      return "source lines";
    case profile::GroupBy::module:
      return "modules";
    case profile::GroupBy::process:
      return "processes";
    case profile::GroupBy::cpu:
      return "CPUs";
    case profile::GroupBy::state:
      return "thread states";
  }
  return "";
}

const char* column(profile::GroupBy by) {
  switch (by) {
    case profile::GroupBy::function:
      return "Function";
    case profile::GroupBy::line:
      return "Source line";
    case profile::GroupBy::module:
      return "Module";
    case profile::GroupBy::process:
      return "Process";
    case profile::GroupBy::cpu:
      return "CPU";
    case profile::GroupBy::state:
      return "State";
  }
  return "";
}

std::string count_title(const profile::Hottest& h) {
  return h.entries.size() < h.distinct ? fmt::format("top {} of {}", h.entries.size(), h.distinct)
                                       : fmt::format("{}", h.distinct);
}

// Functions, lines and modules: self and total. Processes and CPUs own whole samples: one column.
// `unit` is the counted sample type's ("count", "bytes", "nanoseconds").
void append_table(std::string& out, const profile::Hottest& h, profile::GroupBy by,
                  std::string_view unit, const char* title) {
  std::vector<std::string> self, total;
  std::size_t width = 5;
  for (const auto& e : h.entries) {
    self.push_back(format_cell(unit, e.self));
    total.push_back(format_cell(unit, e.total));
    width = std::max({width, self.back().size(), total.back().size()});
  }
  fmt::format_to(std::back_inserter(out), "\n{} ({}):\n", title, count_title(h));
  const bool per_frame = by == profile::GroupBy::function || by == profile::GroupBy::line ||
                         by == profile::GroupBy::module;
  if (per_frame) {
    fmt::format_to(std::back_inserter(out), "{:>7} {:>7}  {:>{}}  {:>{}}  {}\n", "Self%", "Total%",
                   "Self", width, "Total", width, column(by));
    for (std::size_t i = 0; i < h.entries.size(); ++i) {
      const auto& e = h.entries[i];
      fmt::format_to(std::back_inserter(out), "{:>6.2f}% {:>6.2f}%  {:>{}}  {:>{}}  {}\n",
                     percent(e.self, h.total), percent(e.total, h.total), self[i], width, total[i],
                     width, e.name);
    }
  } else {
    fmt::format_to(std::back_inserter(out), "{:>7}  {:>{}}  {}\n", "Share", "Count", width,
                   column(by));
    for (std::size_t i = 0; i < h.entries.size(); ++i) {
      const auto& e = h.entries[i];
      fmt::format_to(std::back_inserter(out), "{:>6.2f}%  {:>{}}  {}\n", percent(e.self, h.total),
                     self[i], width, e.name);
    }
  }
}

// Names the processes there are, for a filter that matched none of them.
std::string known_processes(const profile::Profile& p) {
  auto h = profile::hottest(p, {.by = profile::GroupBy::process, .top = 8});
  if (!h || h->entries.empty()) return "  the profile has no samples";
  std::vector<std::string> names;
  for (const auto& e : h->entries) names.push_back(e.name);
  return fmt::format(
      "  processes in the profile: {}{}\n  see them all with `perfscope report --by "
      "process`",
      fmt::join(names, ", "), h->distinct > names.size() ? ", ..." : "");
}

// The tables: the main one, then the processes and CPUs they come from (when the profile has
// them and the main table is not already by process or CPU).
Result<std::string> tables(const ReportOptions& o, const profile::Profile& p, profile::GroupBy by,
                           profile::SortBy sort, std::size_t value,
                           const profile::SampleFilter& filter) {
  const std::string_view unit =
      value < p.sample_types.size() ? p.string(p.sample_types[value].unit) : "";
  auto h = profile::hottest(
      p, {.by = by, .sort = sort, .top = o.top, .value_index = value, .filter = filter});
  if (!h) return h.error();
  std::string out;
  append_table(out, *h, by, unit, fmt::format("Hottest {}, by {}", plural(by), o.sort).c_str());
  const profile::LabelKeys keys(p);
  for (const auto& [breakdown, title, present] :
       {std::tuple{profile::GroupBy::process, "Processes", keys.pid >= 0 || keys.comm >= 0},
        std::tuple{profile::GroupBy::cpu, "CPUs", keys.cpu >= 0},
        std::tuple{profile::GroupBy::state, "Thread states", keys.state >= 0}}) {
    if (by == breakdown || !present) continue;
    auto b = profile::hottest(
        p, {.by = breakdown, .top = kBreakdownRows, .value_index = value, .filter = filter});
    if (b && !b->entries.empty()) append_table(out, *b, breakdown, unit, title);
  }
  return out;
}

int run_report(const ReportOptions& o) {
  constexpr const char* kCmd = "report";
  if (o.lines && o.by_given && o.by != "line") {
    return report_error(kCmd, Error{fmt::format("--lines cannot be combined with --by {}", o.by), 0,
                                    "  --lines is short for --by line; give one of them"});
  }
  const bool view = wants_view(o.explore, o.by, o.sort);  // not the hottest tables
  auto by = profile::parse_group_by(view ? "function" : o.lines ? "line" : o.by);
  if (!by) return report_error(kCmd, by.error());
  auto sort = profile::parse_sort_by(view ? "self" : o.sort);
  if (!sort) return report_error(kCmd, sort.error());
  profile::SampleFilter filter{.comm = o.comm};
  if (!o.pids.empty()) {
    auto pids = process::parse_pid_filter(o.pids);
    if (!pids) return report_error(kCmd, pids.error());
    filter.pids = std::move(*pids);
  }

  // Read whole: the tables show the filter's share of every sample.
  perfdata::keep_readers_until_exit();  // the command exits after this one file
  auto in = formats::load_input(o.input, {.max_bytes = o.max_input_mib << 20});
  if (!in) return report_error(kCmd, in.error());
  for (const auto& note : in->notes) fmt::print(stderr, "perfscope report: {}\n", note);
  if (auto st = cut_samples(in->profile, o.explore); !st) return report_error(kCmd, st.error());
  const profile::Profile& p = in->profile;
  if (p.sample_types.empty() && !p.samples().empty()) {
    return report_error(kCmd, Error{o.input + " has samples but no sample types", 0,
                                    "  the profile is malformed; record it again"});
  }
  // Everything is computed before the output is written: an error leaves no file behind.
  auto value = profile::sample_type_index(p, o.sample_type);
  if (!value) return report_error(kCmd, value.error());
  const profile::Totals all = profile::totals(p);
  const profile::Totals matched = filter.empty() ? all : profile::totals(p, filter);
  if (!filter.empty() && matched.samples == 0) {
    return report_error(
        kCmd, Error{fmt::format("no samples of {} in {}", describe_filter(filter), o.input), 0,
                    known_processes(p)});
  }
  if (o.folded) {
    auto text = output::folded(p, {.include_comm = !o.no_comm,
                                   .annotate = o.annotate,
                                   .value_index = *value,
                                   .filter = filter});
    if (!text) return report_error(kCmd, text.error());
    if (auto st = write_output_file(o.output, *text); !st) return report_error(kCmd, st.error());
    perfdata::keep_until_exit(std::make_shared<formats::LoadedInput>(std::move(*in)));
    return 0;
  }
  std::string out;
  append_header(out, o, p, *value, all, matched, filter);
  out += describe_cut(o.explore);
  if (p.sample_types.empty() || matched.samples == 0) {
    out += "\nThe profile holds no samples.\n";
  } else {
    auto t = view ? view_text(o.explore, o.by, o.sort, o.top, p, *value, filter)
                  : tables(o, p, *by, *sort, *value, filter);
    if (!t) return report_error(kCmd, t.error());
    out += *t;
  }
  if (auto st = write_output_file(o.output, out); !st) return report_error(kCmd, st.error());
  perfdata::keep_until_exit(std::make_shared<formats::LoadedInput>(std::move(*in)));
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ReportOptions>();
  auto* sub = app.add_subcommand(
      "report", "Show where a saved profile spends its time: tables or folded stacks");
  sub->add_option("-i,--input", o->input,
                  "The profile to read: pprof, folded stacks, perf script text or speedscope "
                  "JSON, told apart by content, gzipped or not (- for stdin)")
      ->capture_default_str();
  sub->add_option("--sort", o->sort,
                  "Order rows by self (in the entry itself) or total (including what it calls)")
      ->capture_default_str();
  sub->add_option("--top", o->top, "Show this many rows (0: all)")->capture_default_str();
  auto* by_option =
      sub->add_option("--by", o->by,
                      "Group by function, line (source position), module, process (comm and "
                      "pid), cpu or state (on-cpu, sleeping, blocked, runnable: record --wall)")
          ->capture_default_str();
  sub->add_flag("--lines", o->lines, "Group by source line (FILE:LINE function): --by line");
  sub->add_option("--pid", o->pids, "Only samples of these processes (comma-separated)");
  sub->add_option("--comm", o->comm, "Only samples of threads with this command name");
  add_max_input(sub, o->max_input_mib);
  sub->add_option(
      "--sample-type", o->sample_type,
      "Weigh samples by this sample type of the profile (alloc_space, cpu, ...) or "
      "its 0-based index (default: the profile's default type, else the last, as go tool "
      "pprof takes it)");
  sub->add_flag("--folded", o->folded,
                "Write folded stacks (one line per stack, for flamegraph.pl, inferno, speedscope)");
  sub->add_flag("--no-comm", o->no_comm,
                "With --folded, leave out the command name as the root frame");
  auto* annotate =
      sub->add_option("--annotate", o->explore.annotate_function,
                      "FUNC: its source lines (or, without them, its instructions) with their "
                      "samples. Bare, with --folded: mark kernel frames _[k], JIT frames _[j] and "
                      "inlined frames _[i], as FlameGraph's stackcollapse-perf.pl --all does")
          ->expected(0, 1);
  add_explore_flags(sub, o->explore);
  sub->add_option("-o,--output", o->output,
                  "Write to FILE instead of standard output (replaced only when complete)");
  sub->footer(
      "Self: samples whose innermost frame is the entry. Total: samples with the entry\n"
      "anywhere in the stack, once per sample even with recursion. Percentages are of the\n"
      "samples that pass --pid/--comm, in the sample type listed first under Total (chosen\n"
      "with --sample-type). A function inlined into its caller is a row of its own,\n"
      "\"NAME (inlined)\". By line, a row is \"FILE:LINE NAME\", or \"NAME (no line info)\" when\n"
      "the profile has no line for it.\n"
      "Examples:\n"
      "  perfscope report                           (reads perfscope.pb.gz)\n"
      "  perfscope report -i app.pb.gz --sort total --top 40\n"
      "  perfscope report --lines --top 10          (the hottest source lines)\n"
      "  perfscope report --by module --pid 1234\n"
      "  perfscope report -i heap.pb.gz --sample-type inuse_space\n"
      "  perfscope report --folded -o app.folded    (then: flamegraph.pl app.folded > app.svg)");
  sub->callback([o, by_option, annotate, &exit_code] {
    o->by_given = by_option->count() > 0;
    o->annotate = annotate->count() > 0 && o->explore.annotate_function.empty();
    exit_code = run_report(*o);
  });
}

}  // namespace perfscope::cli
