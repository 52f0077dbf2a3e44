#include "profile/sample_slice.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <regex>

#include "profile/names.hpp"
#include "profile/query.hpp"

namespace perfscope::profile {
namespace {

Error bad_range(std::string_view text) {
  return Error{fmt::format("cannot read the time range '{}'", printable(text)), 0,
               "  give START-END in seconds from the start (1.5-3, 2-, -0.5) or in percent of the "
               "recording (10%-20%); several separated by commas"};
}

// A number, or nothing (nullopt for an empty text); `percent` set when it ends with '%'.
bool parse_bound(std::string_view text, std::optional<double>& out, bool& percent) {
  percent = text.ends_with('%');
  if (percent) text.remove_suffix(1);
  if (text.empty()) return true;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0) {
    return false;
  }
  out = v;
  return true;
}

Result<std::regex> compile(const std::string& re, std::string_view flag) {
  try {
    return std::regex(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Error{fmt::format("cannot use '{}' as a regular expression ({}): {}", printable(re),
                             flag, e.what()),
                 0, "  it is an ECMAScript regex, searched in each function's name"};
  }
}

// For each location (by id - 1): whether one of its functions' names matches `re`.
std::vector<bool> matching_locations(const Profile& p, const std::regex& re) {
  std::vector<int> of_function(p.functions().size(), -1);
  std::vector<bool> out;
  out.reserve(p.locations().size());
  for (const Location& l : p.locations()) {
    bool any = false;
    for (std::size_t i = 0; i < l.lines.size() && !any; ++i) {
      int& m = of_function[l.lines[i].function_id - 1];
      if (m < 0) m = std::regex_search(function_name(p, p.function(l.lines[i].function_id)), re);
      any = m == 1;
    }
    if (l.lines.empty()) any = std::regex_search(unsymbolized_name(p, l), re);
    out.push_back(any);
  }
  return out;
}

bool any_location(const Sample& s, const std::vector<bool>& marked) {
  return std::any_of(s.location_ids.begin(), s.location_ids.end(),
                     [&](std::uint64_t id) { return marked[id - 1]; });
}

}  // namespace

Result<std::vector<TimeRange>> parse_time_ranges(std::string_view text) {
  std::vector<TimeRange> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view one = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto dash = one.find('-');
    if (dash == std::string_view::npos) return bad_range(one);
    std::optional<double> start, end;
    bool start_pct = false, end_pct = false;
    if (!parse_bound(one.substr(0, dash), start, start_pct) ||
        !parse_bound(one.substr(dash + 1), end, end_pct) || (!start && !end)) {
      return bad_range(one);
    }
    // "10%-20%", "10%-", "-20%": a percent range; mixing seconds and percent is not.
    const bool percent = (start && start_pct) || (end && end_pct);
    if ((start && start_pct != percent) || (end && end_pct != percent)) return bad_range(one);
    if (percent && ((start && *start > 100) || (end && *end > 100))) return bad_range(one);
    if (start && end && *end < *start) return bad_range(one);
    out.push_back({start.value_or(0), end.value_or(-1), percent});
  }
  if (out.empty()) return bad_range(text);
  return out;
}

TimeSpan time_span(const Profile& p) {
  TimeSpan span;
  const std::int64_t key = p.find_string(kTimeLabel);
  if (key < 0) return span;
  std::int64_t g = 0, last = 0;
  for (const Sample& s : p.samples()) {
    const auto t = num_label(s, key);
    if (!t || *t < 0) continue;
    span.labelled = true;
    g = std::gcd(g, *t);
    last = std::max(last, *t);
  }
  span.width = g > 0 ? g : kTimeBucketMillis;
  span.end = span.labelled ? last + span.width : 0;
  return span;
}

Status slice_samples(Profile& p, const SliceOptions& o) {
  if (o.empty()) return {};
  std::vector<bool> focus, ignore;
  if (!o.focus.empty()) {
    auto re = compile(o.focus, "--focus");
    if (!re) return re.error();
    focus = matching_locations(p, *re);
  }
  if (!o.ignore.empty()) {
    auto re = compile(o.ignore, "--ignore");
    if (!re) return re.error();
    ignore = matching_locations(p, *re);
  }
  // Windows in ms of period starts.
  std::vector<std::pair<double, double>> windows;
  const std::int64_t time_key = p.find_string(kTimeLabel);
  if (!o.time.empty()) {
    const TimeSpan span = time_span(p);
    if (!span.labelled) {
      return Error{"the profile has no time labels: --time cannot cut it", 0,
                   "  record it with this perfscope (record labels each sample with its time); "
                   "perf.data read by perfscope has them too"};
    }
    for (const TimeRange& r : o.time) {
      const double scale = r.percent ? static_cast<double>(span.end) / 100.0 : 1000.0;
      const double end = r.end < 0 ? static_cast<double>(span.end) : r.end * scale;
      windows.emplace_back(r.start * scale, end);
    }
  }
  const LabelKeys keys(p);
  p.retain_samples([&](const Sample& s) {
    if (!o.tids.empty()) {
      const auto tid = num_label(s, keys.tid);
      if (!tid || std::find(o.tids.begin(), o.tids.end(), *tid) == o.tids.end()) return false;
    }
    if (!focus.empty() && !any_location(s, focus)) return false;
    if (!ignore.empty() && any_location(s, ignore)) return false;
    if (!windows.empty()) {
      const auto t = num_label(s, time_key);
      if (!t) return false;
      const auto at = static_cast<double>(*t);
      return std::any_of(windows.begin(), windows.end(),
                         [at](const auto& w) { return at >= w.first && at < w.second; });
    }
    return true;
  });
  return {};
}

std::string describe_period(std::int64_t start_ms, std::int64_t end_ms) {
  return fmt::format("{:.1f}-{:.1f} s", static_cast<double>(start_ms) / 1000.0,
                     static_cast<double>(end_ms) / 1000.0);
}

}  // namespace perfscope::profile
