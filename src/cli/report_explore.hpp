// `perfscope report`'s exploring flags, as perf report and go tool pprof users know them: call
// trees (-g caller|callee, --callers, --callees, --min-percent), sample cuts (--focus, --ignore,
// --tid, --time), perf's sort keys (--sort comm,dso,sym,srcline), --by thread and --by time, and
// --annotate FUNC. report.cpp registers them and asks here for the cut and the view; the work is
// in profile/ (call_tree, sample_slice, sample_groups, annotate) and output/report_views.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::cli {

struct ExploreOptions {
  std::string graph;  // -g: caller or callee; empty: no tree
  double min_percent = 0.5;
  std::string focus, ignore;      // regexes over function names
  std::string callers, callees;   // --callers FUNC, --callees FUNC
  std::string tids;               // --tid: comma-separated
  std::string time;               // --time: ranges
  std::string annotate_function;  // --annotate FUNC
};

void add_explore_flags(CLI::App* sub, ExploreOptions& o);

// Whether report shows one of this file's views instead of its hottest tables: a tree, an
// annotation, --by thread or time, or --sort with perf's keys.
bool wants_view(const ExploreOptions& o, std::string_view by, std::string_view sort);

// Applies --tid, --focus, --ignore and --time to the profile (every view and table then sees only
// the samples that pass).
Status cut_samples(profile::Profile& p, const ExploreOptions& o);

// One line for the report's header when a cut applies ("Cut: --time 10%-20%"), else "".
std::string describe_cut(const ExploreOptions& o);

// The view's text (after the report's header).
Result<std::string> view_text(const ExploreOptions& o, std::string_view by, std::string_view sort,
                              std::size_t top, const profile::Profile& p, std::size_t value,
                              const profile::SampleFilter& filter);

}  // namespace perfscope::cli
