#include "monitor/settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "counting/counter_set.hpp"
#include "monitor/config.hpp"
#include "monitor/duration.hpp"

namespace perfscope::monitor {
namespace {

using std::chrono::nanoseconds;

// A duration flag, or the reason it is not one, naming the flag.
Status apply_duration(const std::string& text, const char* flag, bool interval, nanoseconds& into) {
  if (text.empty()) return {};
  auto d = parse_setting(text, interval);
  if (!d) return Error{fmt::format("{}: {}", flag, d.error().message()), 0, d.error().hint};
  into = *d;
  return {};
}

Result<std::vector<events::EventGroupSpec>> event_groups(const SettingFlags& flags,
                                                         std::optional<MonitorConfig>& config,
                                                         bool& defaults) {
  defaults = false;
  if (!flags.events.empty()) {
    std::string list;
    for (const auto& e : flags.events) list += (list.empty() ? "" : ",") + e;
    return events::parse_event_list(list);
  }
  if (config && !config->events.empty()) {
    // In file order (the TOML reader hands tables over sorted by key).
    std::stable_sort(config->events.begin(), config->events.end(),
                     [](const auto& a, const auto& b) { return a.line < b.line; });
    std::vector<events::EventGroupSpec> groups;
    for (auto& e : config->events) {
      for (auto& g : e.groups) groups.push_back(std::move(g));
    }
    return groups;
  }
  defaults = true;
  return events::parse_event_list(counting::kDefaultEvents);
}

Status check_distinct(const Settings& s) {
  std::set<std::string> seen;
  for (const auto& g : s.groups) {
    for (const auto& spec : g.events) {
      if (!seen.insert(spec.display_name()).second) {
        return Error{fmt::format("event {} is listed twice", spec.display_name()), 0,
                     "  list each event once (PAGE_FAULTS and page-faults are the same event)"};
      }
    }
  }
  std::set<std::string> files;
  for (const auto& out : s.outputs) {
    if (out.kind == OutputSpec::Kind::prometheus) continue;
    if (!files.insert(out.path).second) {
      return Error{
          fmt::format("two outputs write to {}", out.path == "-" ? "standard output" : out.path), 0,
          "  give each csv:/jsonl: output its own file"};
    }
  }
  return {};
}

}  // namespace

Result<Settings> resolve_settings(const SettingFlags& flags) {
  std::optional<MonitorConfig> config;
  if (!flags.config.empty()) {
    auto c = load_config(flags.config);
    if (!c) return c.error();
    config = std::move(*c);
  }
  Settings s;
  auto groups = event_groups(flags, config, s.default_events);
  if (!groups) return groups.error();
  s.groups = std::move(*groups);
  if (config) {
    s.poll = config->poll_interval.value_or(s.poll);
    s.flush = config->flush_interval.value_or(s.flush);
    s.duration = config->duration;
    s.strict = config->strict.value_or(false);
    s.outputs = config->outputs;
  }
  if (auto st = apply_duration(flags.poll_interval, "--poll-interval", true, s.poll); !st)
    return st.error();
  if (auto st = apply_duration(flags.flush_interval, "--flush-interval", true, s.flush); !st)
    return st.error();
  nanoseconds duration{0};
  if (auto st = apply_duration(flags.duration, "--duration", false, duration); !st)
    return st.error();
  if (!flags.duration.empty()) s.duration = duration;
  if (flags.strict) s.strict = true;
  if (!flags.outputs.empty()) {
    s.outputs.clear();
    for (const auto& text : flags.outputs) {
      auto spec = parse_output_spec(text);
      if (!spec) return spec.error();
      s.outputs.push_back(std::move(*spec));
    }
  }
  if (s.outputs.empty()) s.outputs.push_back(*parse_output_spec("jsonl:-"));
  if (auto st = check_distinct(s); !st) return st.error();
  return s;
}

}  // namespace perfscope::monitor
