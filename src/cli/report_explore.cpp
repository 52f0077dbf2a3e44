#include "cli/report_explore.hpp"

#include <fmt/format.h>

#include <vector>

#include "output/report_views.hpp"
#include "process/targets.hpp"
#include "profile/annotate.hpp"
#include "profile/call_tree.hpp"
#include "profile/sample_groups.hpp"
#include "profile/sample_slice.hpp"
#include "symbols/disassemble.hpp"

namespace perfscope::cli {
namespace {

// Rows of --by time: periods are merged beyond this many.
constexpr std::size_t kTimelineRows = 40;

bool is_perf_sort(std::string_view sort) {
  return sort != "self" && sort != "total";
}

Result<std::string> tree_text(const ExploreOptions& o, std::size_t top, const profile::Profile& p,
                              std::size_t value, const profile::SampleFilter& filter) {
  profile::TreeOptions t{
      .top = top, .min_percent = o.min_percent, .value_index = value, .filter = filter};
  std::string what;
  if (!o.callers.empty()) {
    t.order = profile::TreeOrder::callee;
    t.roots = o.callers;
    what = fmt::format("Callers of '{}': the function, then what calls it", o.callers);
  } else if (!o.callees.empty()) {
    t.order = profile::TreeOrder::caller;
    t.roots = o.callees;
    what = fmt::format("Callees of '{}': the function, then what it calls", o.callees);
  } else {
    auto order = profile::parse_tree_order(o.graph);
    if (!order) return order.error();
    t.order = *order;
    what = t.order == profile::TreeOrder::caller
               ? "Call graph (-g caller): each hottest function, then what it calls"
               : "Call graph (-g callee): each hottest function, then what calls it";
  }
  auto tree = profile::call_tree(p, t);
  if (!tree) return tree.error();
  return fmt::format("\n{}; in % of all samples, branches under {}% left out:\n\n{}", what,
                     o.min_percent, output::render_call_tree(*tree));
}

// Replaces the sampled offsets by the whole function's instructions, each with its weight.
Status disassemble(profile::Annotation& a) {
  auto code = symbols::disassemble_function(a.module_path, a.instructions.front().file_offset);
  if (!code) return code.error();
  std::vector<profile::AnnotatedInstruction> all;
  auto sampled = a.instructions.begin();
  for (auto& ins : *code) {
    std::int64_t w = 0;
    while (sampled != a.instructions.end() && sampled->file_offset < ins.file_offset) ++sampled;
    if (sampled != a.instructions.end() && sampled->file_offset == ins.file_offset)
      w = sampled->weight;
    all.push_back({ins.file_offset, w, std::move(ins.text), ins.address});
  }
  a.instructions = std::move(all);
  return {};
}

Result<std::string> annotate_text(const ExploreOptions& o, const profile::Profile& p,
                                  std::size_t value, const profile::SampleFilter& filter) {
  auto a = profile::annotate(p, o.annotate_function, value, filter);
  if (!a) return a.error();
  std::string note;
  if (!a->has_source && !a->instructions.empty()) {
    // No readable source: the function's instructions, from the file the profile names.
    if (auto st = disassemble(*a); !st) note = "(not disassembled: " + st.error().message() + ")\n";
  }
  std::string out = fmt::format("\nAnnotated: {}\nSamples in it: {}{}\n", a->function, a->total,
                                a->module_path.empty() ? "" : ", code in " + a->module_path);
  return out + note + output::render_annotation(*a);
}

}  // namespace

void add_explore_flags(CLI::App* sub, ExploreOptions& o) {
  sub->add_option("-g,--call-graph", o.graph,
                  "Show the call tree of the hottest functions, as perf report -g: caller (each "
                  "function, then what it calls) or callee (then what calls it)")
      ->check(CLI::IsMember({"caller", "callee"}));
  sub->add_option("--min-percent", o.min_percent,
                  "In call trees, leave out branches under this share of all samples (percent)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  sub->add_option("--callers", o.callers,
                  "The call tree of what calls FUNC (a name or an ECMAScript regex)");
  sub->add_option("--callees", o.callees,
                  "The call tree of what FUNC calls (a name or an ECMAScript regex)");
  sub->add_option("--focus", o.focus,
                  "Only samples with a function matching this regex on the stack (as pprof's "
                  "-focus)");
  sub->add_option("--ignore", o.ignore,
                  "Leave out samples with a function matching this regex on the stack (as pprof's "
                  "-ignore)");
  sub->add_option("--tid", o.tids, "Only samples of these threads (comma-separated)");
  sub->add_option("--time", o.time,
                  "Only samples in this time window: START-END in seconds from the start (1.5-3, "
                  "2-, -0.5) or percent of the recording (10%-20%); several, comma-separated");
}

bool wants_view(const ExploreOptions& o, std::string_view by, std::string_view sort) {
  return !o.graph.empty() || !o.callers.empty() || !o.callees.empty() ||
         !o.annotate_function.empty() || by == "thread" || by == "time" || is_perf_sort(sort);
}

Status cut_samples(profile::Profile& p, const ExploreOptions& o) {
  profile::SliceOptions slice{.focus = o.focus, .ignore = o.ignore};
  if (!o.tids.empty()) {
    auto tids = process::parse_pid_filter(o.tids);
    if (!tids) return tids.error();
    slice.tids = std::move(*tids);
  }
  if (!o.time.empty()) {
    auto ranges = profile::parse_time_ranges(o.time);
    if (!ranges) return ranges.error();
    slice.time = std::move(*ranges);
  }
  return profile::slice_samples(p, slice);
}

std::string describe_cut(const ExploreOptions& o) {
  std::vector<std::string> parts;
  if (!o.tids.empty()) parts.push_back("tid " + o.tids);
  if (!o.time.empty()) parts.push_back("time " + o.time);
  if (!o.focus.empty()) parts.push_back("focus '" + o.focus + "'");
  if (!o.ignore.empty()) parts.push_back("ignore '" + o.ignore + "'");
  return parts.empty() ? std::string() : fmt::format("Cut: {}\n", fmt::join(parts, ", "));
}

Result<std::string> view_text(const ExploreOptions& o, std::string_view by, std::string_view sort,
                              std::size_t top, const profile::Profile& p, std::size_t value,
                              const profile::SampleFilter& filter) {
  if (!o.annotate_function.empty()) return annotate_text(o, p, value, filter);
  if (!o.graph.empty() || !o.callers.empty() || !o.callees.empty()) {
    return tree_text(o, top, p, value, filter);
  }
  const std::string_view unit =
      value < p.sample_types.size() ? p.string(p.sample_types[value].unit) : "";
  if (by == "time") {
    auto tl = profile::timeline(p, kTimelineRows, value, filter);
    if (!tl) return tl.error();
    return fmt::format("\nBusy periods ({} ms each):\n{}", tl->width_ms,
                       output::render_timeline(*tl));
  }
  std::vector<profile::SortKey> keys = {profile::SortKey::comm, profile::SortKey::pid,
                                        profile::SortKey::tid};
  std::string title = "Threads";
  if (by != "thread") {
    auto parsed = profile::parse_sort_keys(sort);
    if (!parsed) return parsed.error();
    keys = std::move(*parsed);
    title = fmt::format("By {}", sort);
  }
  auto t = profile::group_by_keys(p, keys, top, value, filter);
  if (!t) return t.error();
  const std::string count = t->rows.size() < t->distinct
                                ? fmt::format("top {} of {}", t->rows.size(), t->distinct)
                                : fmt::format("{}", t->distinct);
  return fmt::format("\n{} ({}):\n{}", title, count, output::render_keyed_table(*t, unit));
}

}  // namespace perfscope::cli
